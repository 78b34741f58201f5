// Package job is the contract of a Stratos compute job as a module sees it: its inputs are the
// files /in/0, /in/1, … (read-only), named in argv[1..n]; the job's own arguments follow them;
// the output is whatever it writes to stdout; stderr is a log; exit status 0 means success.
package job

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// MaxLine is the longest line the line-oriented examples accept: each keeps one line (per
// input) in memory, so a file without newlines must not become one 256 MiB line.
const MaxLine = 1 << 20

// Args splits argv into the inputs (the leading arguments that begin with /in/) and the job's
// own arguments (the rest).
func Args() (inputs, rest []string) {
	args := os.Args[1:]
	n := 0
	for n < len(args) && strings.HasPrefix(args[n], "/in/") {
		n++
	}
	return args[:n], args[n:]
}

// Fail logs one sentence to stderr and ends the job with status 1.
func Fail(format string, a ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(1)
}

// Output is stdout, buffered: each write to stdout is a call out of the sandbox.
func Output() *bufio.Writer { return bufio.NewWriterSize(os.Stdout, 64<<10) }

// Lines reads r a line at a time (without its "\n", keeping any "\r"), in a buffer that grows
// up to MaxLine; a longer line ends the scan with bufio.ErrTooLong.
func Lines(f *os.File) *bufio.Scanner {
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), MaxLine)
	s.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	return s
}

// LinesErr is the sentence for a scan of `name` that stopped on err after `line` lines.
func LinesErr(name string, line int, err error) string {
	if err == bufio.ErrTooLong {
		return fmt.Sprintf("line %d of %s is longer than %d bytes", line+1, name, MaxLine)
	}
	return fmt.Sprintf("reading %s: %v", name, err)
}
