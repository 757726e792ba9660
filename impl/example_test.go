package impl_test

import (
	"fmt"

	"github.com/qedharness/qedharness/impl"
	"github.com/qedharness/qedharness/model"
)

// ExampleEngine drives the engine by hand, as a backend and Image do: it
// submits one allocating write, carries out each I/O the engine hands
// out (here at once, in issue order, with impl.Perform) and hands it
// back, until the request is done.
func ExampleEngine() {
	files := impl.Files{Image: impl.NewMemStorage()}
	if err := impl.Create(files.Image, 64<<20, impl.CreateOptions{}); err != nil {
		panic(err)
	}
	eng, err := impl.NewEngine(files, impl.Options{Policy: model.Overlap{}})
	if err != nil {
		panic(err)
	}
	w := &impl.Request{Op: impl.ReqWrite, Off: 0, Buf: make([]byte, 4096)}
	eng.Submit(w)
	var pending []*impl.IO
	for done := false; !done; {
		rd := eng.Ready()
		pending = append(pending, rd.IOs...)
		for _, r := range rd.Done {
			fmt.Printf("request %d done, err %v\n", r.ID, r.Err)
			done = r == w
		}
		if len(pending) > 0 {
			io := pending[0]
			pending = pending[1:]
			fmt.Println(io)
			io.Err = impl.Perform(files, io)
			eng.Complete(io)
		}
	}
	// Output:
	// io 1 write image 0x0+512 (header, req 0)
	// io 2 flush image (flush, req 0)
	// io 3 grow image to 0x160000 (grow, req 0)
	// io 4 write image 0x50000+4096 (data, req 1)
	// io 5 write image 0x60000+262144 (l2-write, req 1)
	// io 6 write image 0x10000+512 (l1-write, req 0)
	// request 1 done, err <nil>
}
