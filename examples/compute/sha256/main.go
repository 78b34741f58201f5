// sha256: the SHA-256 of each input, one line each, as sha256sum prints them:
//
//	<64 hex digits>  /in/<i>
//
// Each input is read in 1 MiB chunks, so its size does not matter.
package main

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"stratos.example/compute/internal/job"
)

func main() {
	inputs, rest := job.Args()
	if len(rest) > 0 {
		job.Fail("sha256 takes no arguments, got %q", rest)
	}
	out := job.Output()
	buf := make([]byte, 1<<20)
	for _, name := range inputs {
		f, err := os.Open(name)
		if err != nil {
			job.Fail("%v", err)
		}
		h := sha256.New()
		for {
			n, err := f.Read(buf)
			h.Write(buf[:n])
			if err == io.EOF {
				break
			} else if err != nil {
				job.Fail("reading %s: %v", name, err)
			}
		}
		f.Close()
		fmt.Fprintf(out, "%x  %s\n", h.Sum(nil), name)
	}
	if err := out.Flush(); err != nil {
		job.Fail("writing the output: %v", err)
	}
}
