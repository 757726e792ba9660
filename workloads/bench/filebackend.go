package bench

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"

	"github.com/qedharness/qedharness/impl/file"
	"github.com/qedharness/qedharness/workloads/results"
)

// setFileBackend checks the settings of the file backend and, when the
// matrix runs on it, resolves them: the directory (it must exist and
// hold what each run writes before it starts), its file system, the aio
// mode and the baselines.
func (s *Setup) setFileBackend(cfg *Config) error {
	aioName := cfg.AIO
	if aioName == "" {
		aioName = AIOAuto
	}
	if !s.usesFile() {
		only := errors.New("applies to the file backend only (add -backend file)")
		switch {
		case cfg.Dir != "":
			return bad("Dir", only)
		case cfg.Direct:
			return bad("Direct", only)
		case cfg.FileWorkers != 0:
			return bad("FileWorkers", only)
		case aioName != AIOAuto:
			return bad("AIO", only)
		}
		return nil
	}
	dir := cfg.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	if err := checkDir(dir, s.matrix.Plans, freeBytes); err != nil {
		return bad("Dir", err)
	}
	s.fsName = fileSystemType(dir)
	s.matrix.FileSystem = s.fsName
	s.discardNote = DiscardNote(dir)
	s.cache = "buffered"
	if cfg.Direct {
		s.cache = "direct"
	}
	aio, note, err := chooseAIO(aioName, file.IOUringAvailable)
	if err != nil {
		return bad("AIO", err)
	}
	s.matrix.File.AIO, s.aioNote = aio, note
	s.cache += "+aio=" + aio.String()
	if cfg.FileWorkers > 0 {
		s.cache += fmt.Sprintf("+workers=%d", cfg.FileWorkers)
	}
	if err := s.chooseBaselines(cfg.Baselines); err != nil {
		return bad("Baselines", err)
	}
	if err := checkRuns(&s.matrix); err != nil { // with the baselines
		return bad("Repeat", err)
	}
	return nil
}

// chooseAIO resolves an aio name: a mode by name, or for AIOAuto
// io_uring if available() returns nil and threads otherwise, with a note
// saying why.
func chooseAIO(name string, available func() error) (file.AIOMode, string, error) {
	if name != AIOAuto {
		m, err := file.ParseAIOMode(name)
		if err != nil {
			return 0, "", errors.New(strings.Replace(err.Error(), "want threads or io_uring", "want auto, io_uring or threads", 1))
		}
		if m == file.AIOIOUring {
			if err := available(); err != nil {
				return 0, "", fmt.Errorf("io_uring: %w; use -aio threads", err)
			}
		}
		return m, "", nil
	}
	if err := available(); err != nil {
		return file.AIOThreads, fmt.Sprintf("file backend uses aio=threads: io_uring is not available (%v)", err), nil
	}
	return file.AIOIOUring, "", nil
}

// chooseBaselines resolves Config.Baselines: BaselinesAuto runs every
// baseline if qemu-img is installed and notes why not otherwise;
// BaselinesNone or none given runs none.
func (s *Setup) chooseBaselines(list []string) error {
	auto := slices.Equal(list, []string{BaselinesAuto})
	if len(list) == 0 || slices.Equal(list, []string{BaselinesNone}) {
		return nil
	}
	path, lookErr := exec.LookPath("qemu-img")
	names := results.BaselineNames()
	if !auto {
		names = nil
		for _, b := range list {
			if !results.IsMatrixBaseline(b) {
				return fmt.Errorf("unknown baseline %q (want %s, %s or %s)", b, strings.Join(results.BaselineNames(), ", "), BaselinesAuto, BaselinesNone)
			}
			names = append(names, b)
		}
	}
	if lookErr != nil {
		// The raw baseline needs no qemu-img; the others are skipped.
		kept := slices.DeleteFunc(names, func(b string) bool { return b != results.BaselineRaw })
		if len(kept) < len(names) || auto {
			s.baselineNote = "baselines through qemu-img bench skipped: qemu-img is not installed (Debian package qemu-utils)"
		}
		s.matrix.Baselines = kept
		return nil
	}
	s.matrix.Baselines, s.matrix.QemuImg = names, path
	return nil
}

// FileSystemType names the file system holding dir, as runs.json's
// provenance records it ("ext4", "tmpfs"), or gives its magic number;
// "unknown" when it cannot tell.
func FileSystemType(dir string) string { return fileSystemType(dir) }

// ChooseAIO resolves an aio name as Config.AIO does: "io_uring",
// "threads", or AIOAuto (or "") for io_uring where the kernel allows it,
// else threads, with a note saying why threads.
func ChooseAIO(name string) (mode file.AIOMode, note string, err error) {
	if name == "" {
		name = AIOAuto
	}
	return chooseAIO(name, file.IOUringAvailable)
}
