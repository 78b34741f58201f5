// wordcount: counts like wc's, then the most frequent words.
//
// First one line per input and a total, as `wc` prints them (a word is a run of bytes that are
// not ASCII white space):
//
//	lines    words    bytes /in/<i>
//	lines    words    bytes total
//
// Then, after an empty line, the -top N (default 10; 0 for none) most frequent words of all the
// inputs together, most frequent first and, at equal counts, in byte order:
//
//	count word
//
// For this table a word is lower-cased (ASCII) and stripped of the ASCII punctuation around it
// ("Hello," counts as "hello", "don't" stays itself); what is left empty, or longer than
// MaxWord bytes, is not in the table. The table holds at most MaxDistinct different words,
// which bounds its memory; an input with more ends the job with an error (use -top 0).
//
// The inputs are read in 64 KiB chunks, so their size does not matter.
package main

import (
	"cmp"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"stratos.example/compute/internal/job"
)

const (
	MaxWord     = 64
	MaxDistinct = 100_000
)

type counts struct{ lines, words, bytes int64 }

// space[b]: b is ASCII white space, which separates words (as in wc).
var space = [256]bool{' ': true, '\t': true, '\n': true, '\v': true, '\f': true, '\r': true}

// table counts the words of the -top table, in a hash table of its own: a Go map would do, but
// its hash is seeded at random, so the fuel a run uses would differ a little from run to run
// (and from executor to executor); FNV-1a in a fixed array of slots does not.
type table struct {
	slots   [4 * MaxDistinct]int32 // 1 + the index of a word in entries, 0 when free
	entries []entry
	word    []byte // the word being read (it may span chunks), up to MaxWord bytes
	tooLong bool
}

type entry struct {
	word  string
	count int64
}

func (t *table) add(part []byte) {
	if len(t.word)+len(part) > MaxWord {
		t.tooLong = true
	} else {
		t.word = append(t.word, part...)
	}
}

// end counts the word read, and starts the next.
func (t *table) end() {
	w := t.word
	for len(w) > 0 && isPunct(w[0]) {
		w = w[1:]
	}
	for len(w) > 0 && isPunct(w[len(w)-1]) {
		w = w[:len(w)-1]
	}
	if len(w) > 0 && !t.tooLong {
		for i, c := range w {
			if c >= 'A' && c <= 'Z' {
				w[i] = c + 'a' - 'A'
			}
		}
		t.count(w)
	}
	t.word, t.tooLong = t.word[:0], false
}

func (t *table) count(w []byte) {
	h := uint32(2166136261)
	for _, c := range w {
		h = (h ^ uint32(c)) * 16777619
	}
	i := h % uint32(len(t.slots))
	for ; t.slots[i] != 0; i = (i + 1) % uint32(len(t.slots)) { // at most a quarter full
		if e := &t.entries[t.slots[i]-1]; e.word == string(w) {
			e.count++
			return
		}
	}
	if len(t.entries) == MaxDistinct {
		job.Fail("more than %d different words: use -top 0 for the counts alone", MaxDistinct)
	}
	t.entries = append(t.entries, entry{string(w), 1})
	t.slots[i] = int32(len(t.entries))
}

func isPunct(c byte) bool {
	return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~')
}

// count adds data's lines and words to c, and its words to t (when not nil). inWord says
// whether the data before ended inside a word; count returns whether data does.
func count(data []byte, inWord bool, c *counts, t *table) bool {
	i := 0
	for i < len(data) {
		if inWord { // to the end of the word
			j := i
			for j < len(data) && !space[data[j]] {
				j++
			}
			if t != nil {
				t.add(data[i:j])
			}
			if j == len(data) {
				return true // the word goes on in the next chunk
			}
			if t != nil {
				t.end()
			}
			i, inWord = j, false
		}
		for ; i < len(data) && space[data[i]]; i++ { // to the next word
			if data[i] == '\n' {
				c.lines++
			}
		}
		if i < len(data) {
			c.words++
			inWord = true
		}
	}
	return inWord
}

func main() {
	inputs, rest := job.Args()
	flags := flag.NewFlagSet("wordcount", flag.ContinueOnError)
	top := flags.Int("top", 10, "how many of the most frequent words to list (0: none)")
	if err := flags.Parse(rest); err != nil || flags.NArg() > 0 || *top < 0 {
		job.Fail("usage: wordcount [-top N] (after the inputs), got %q", rest)
	}
	var words *table // nil with -top 0
	if *top > 0 {
		words = &table{word: make([]byte, 0, MaxWord)}
	}
	out := job.Output()
	var total counts
	buf := make([]byte, 64<<10)
	for _, name := range inputs {
		f, err := os.Open(name)
		if err != nil {
			job.Fail("%v", err)
		}
		var c counts
		inWord := false
		for {
			n, err := f.Read(buf)
			c.bytes += int64(n)
			inWord = count(buf[:n], inWord, &c, words)
			if err == io.EOF {
				break
			} else if err != nil {
				job.Fail("reading %s: %v", name, err)
			}
		}
		f.Close()
		if inWord && words != nil { // a word at the very end of an input ends with it
			words.end()
		}
		fmt.Fprintf(out, "%8d %8d %8d %s\n", c.lines, c.words, c.bytes, name)
		total.lines, total.words, total.bytes = total.lines+c.lines, total.words+c.words, total.bytes+c.bytes
	}
	fmt.Fprintf(out, "%8d %8d %8d total\n", total.lines, total.words, total.bytes)

	if words != nil {
		seen := words.entries
		slices.SortFunc(seen, func(a, b entry) int { // most frequent first, then in byte order
			return cmp.Or(cmp.Compare(b.count, a.count), strings.Compare(a.word, b.word))
		})
		fmt.Fprintln(out)
		for _, w := range seen[:min(*top, len(seen))] {
			fmt.Fprintf(out, "%8d %s\n", w.count, w.word)
		}
	}
	if err := out.Flush(); err != nil {
		job.Fail("writing the output: %v", err)
	}
}
