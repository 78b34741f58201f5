// grep: the lines of the inputs that match a pattern, each prefixed with its input and line
// number, as `grep -n` prints them for several files:
//
//	/in/<i>:<line number>:<line>
//
// Arguments after the inputs: [-i] [-F] PATTERN. PATTERN is a regular expression in Go's RE2
// syntax (linear time, whatever the input), -F takes it literally, -i ignores case. A pattern
// that begins with /in/ would be taken for an input: write it as [/]in/….
//
// Unlike grep, the job exits 0 whether or not a line matched (any other status fails a job);
// the number of matching lines is logged to stderr. Lines are read one at a time, each up to
// 1 MiB (a longer one fails the job), so the size of an input does not matter.
package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"strconv"

	"stratos.example/compute/internal/job"
)

func main() {
	inputs, rest := job.Args()
	flags := flag.NewFlagSet("grep", flag.ContinueOnError)
	fold := flags.Bool("i", false, "ignore case")
	fixed := flags.Bool("F", false, "the pattern is a fixed string, not a regular expression")
	if err := flags.Parse(rest); err != nil || flags.NArg() != 1 {
		job.Fail("usage: grep [-i] [-F] PATTERN (after the inputs), got %q", rest)
	}
	pattern := flags.Arg(0)
	if *fixed {
		pattern = regexp.QuoteMeta(pattern)
	}
	if *fold {
		pattern = "(?i)" + pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		job.Fail("the pattern is not a regular expression: %v", err)
	}
	out := job.Output()
	matched, number := 0, make([]byte, 0, 20)
	for _, name := range inputs {
		f, err := os.Open(name)
		if err != nil {
			job.Fail("%v", err)
		}
		lines, n := job.Lines(f), 0
		for lines.Scan() {
			n++
			if line := lines.Bytes(); re.Match(line) {
				matched++
				// no fmt here: a run that allocates nothing per line never collects garbage,
				// and the collector's pace (it reads the clock) would vary the fuel used
				out.WriteString(name)
				out.WriteByte(':')
				out.Write(strconv.AppendInt(number[:0], int64(n), 10))
				out.WriteByte(':')
				out.Write(line)
				out.WriteByte('\n')
			}
		}
		if err := lines.Err(); err != nil {
			job.Fail("%s", job.LinesErr(name, n, err))
		}
		f.Close()
	}
	if err := out.Flush(); err != nil {
		job.Fail("writing the output: %v", err)
	}
	fmt.Fprintf(os.Stderr, "%d matching lines\n", matched)
}
