package main

import (
	"fmt"
	"io"
	"strings"
)

// createOptions lists the keys create takes in -o, those qemu-img create
// -f qed -o help lists, in its order and words.
var createOptions = []struct{ key, help string }{
	{"backing_file", "File name of a base image"},
	{"backing_fmt", "Image format of the base image (raw only)"},
	{"cluster_size", "Cluster size (in bytes)"},
	{"size", "Virtual disk size"},
	{"table_size", "L1/L2 table size (in clusters)"},
}

// createOption is one key=value item of create's -o.
type createOption struct{ key, value string }

// splitOptions splits create's -o lists as qemu-img does: items
// separated by commas, each key=value, ",," a comma inside a value; empty
// items are skipped. help reports an item "help" or "?" (list the
// options). A key create does not take, or an item without a value, is a
// *usageError naming it.
func splitOptions(lists []string) (opts []createOption, help bool, err error) {
	for _, list := range lists {
		for _, item := range splitEscaped(list) {
			switch {
			case item == "":
				continue
			case item == "help" || item == "?":
				help = true
				continue
			}
			key, value, ok := strings.Cut(item, "=")
			if !knownOption(key) {
				return nil, false, usagef("-o %s: unknown option (qed takes %s; -o help lists them)", oneLine(fmt.Sprintf("%q", key)), optionKeys())
			}
			if !ok {
				return nil, false, usagef("-o %s: missing =VALUE", key)
			}
			opts = append(opts, createOption{key, value})
		}
	}
	return opts, help, nil
}

// splitEscaped splits s at single commas; ",," stands for a comma.
func splitEscaped(s string) []string {
	var items []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] != ',':
			b.WriteByte(s[i])
		case i+1 < len(s) && s[i+1] == ',':
			b.WriteByte(',')
			i++
		default:
			items = append(items, b.String())
			b.Reset()
		}
	}
	return append(items, b.String())
}

func knownOption(key string) bool {
	for _, o := range createOptions {
		if o.key == key {
			return true
		}
	}
	return false
}

// optionKeys names the keys of create's -o, comma-separated.
func optionKeys() string {
	keys := make([]string, len(createOptions))
	for i, o := range createOptions {
		keys[i] = o.key
	}
	return strings.Join(keys, ", ")
}

// writeOptionsHelp lists create's -o keys as qemu-img create -o help does.
func writeOptionsHelp(w io.Writer) error {
	var b strings.Builder
	b.WriteString("Supported qed options:\n")
	for _, o := range createOptions {
		fmt.Fprintf(&b, "  %-22s - %s\n", o.key+"=<"+optionType(o.key)+">", o.help)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func optionType(key string) string {
	if strings.HasSuffix(key, "_size") || key == "size" {
		return "size"
	}
	return "str"
}

// setting is a create parameter that more than one flag can give (-b,
// -backing and -o backing_file): its value and the flag that gave it.
type setting[T comparable] struct {
	v    T
	from string // the flag that gave v; "" when none did
}

// give records v from the flag named from. Two flags giving different
// values is a *usageError naming both; the same value twice is accepted.
func (s *setting[T]) give(from string, v T) error {
	if s.from != "" && s.v != v {
		return usagef("%s %v and %s %v disagree", s.from, s.v, from, v)
	}
	if s.from == "" {
		s.v, s.from = v, from
	}
	return nil
}
