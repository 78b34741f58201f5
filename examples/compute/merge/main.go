// merge: the lines of several sorted inputs as one sorted output, as `sort -m` merges them:
// a k-way merge that holds one line per input, so the inputs may be of any size and number.
//
// Lines compare as bytes (LC_ALL=C); of equal lines, the one from the lower-numbered input
// comes first. Every output line ends with "\n", also an input's last line that had none. An
// input that is not sorted fails the job, naming it and the line. Lines may be up to 1 MiB.
//
// The count of lines taken from each input is logged to stderr.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"

	"stratos.example/compute/internal/job"
)

type input struct {
	name  string
	lines *bufio.Scanner
	n     int    // lines read
	prev  []byte // the line before the current one, to check the order
	live  bool   // Bytes() is its current line
}

func (in *input) next() {
	in.prev = append(in.prev[:0], in.lines.Bytes()...)
	in.live = in.lines.Scan()
	if !in.live {
		if err := in.lines.Err(); err != nil {
			job.Fail("%s", job.LinesErr(in.name, in.n, err))
		}
		return
	}
	in.n++
	if in.n > 1 && bytes.Compare(in.lines.Bytes(), in.prev) < 0 {
		job.Fail("%s is not sorted: line %d sorts before line %d", in.name, in.n, in.n-1)
	}
}

func main() {
	names, rest := job.Args()
	if len(rest) > 0 {
		job.Fail("merge takes no arguments, got %q", rest)
	}
	inputs := make([]*input, len(names))
	for i, name := range names {
		f, err := os.Open(name)
		if err != nil {
			job.Fail("%v", err)
		}
		inputs[i] = &input{name: name, lines: job.Lines(f)}
		inputs[i].next()
	}
	out := job.Output()
	for {
		var least *input // a linear scan: clearer than a heap, and k is small
		for _, in := range inputs {
			if in.live && (least == nil || bytes.Compare(in.lines.Bytes(), least.lines.Bytes()) < 0) {
				least = in
			}
		}
		if least == nil {
			break
		}
		out.Write(least.lines.Bytes())
		out.WriteByte('\n')
		least.next()
	}
	if err := out.Flush(); err != nil {
		job.Fail("writing the output: %v", err)
	}
	for _, in := range inputs {
		fmt.Fprintf(os.Stderr, "%s: %d lines\n", in.name, in.n)
	}
}
