// dockerfile-check parses Dockerfiles with BuildKit's own parser (what `docker build` runs) and
// prints what the tests need to judge them, as JSON: every stage's base image and instructions,
// plus the lint warnings BuildKit itself raises. A Dockerfile BuildKit cannot parse is an error
// (exit 1) naming the file and line.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

type command struct {
	Name    string   `json:"name"`
	Sources []string `json:"sources,omitempty"`
	Dest    string   `json:"dest,omitempty"`
	From    string   `json:"from,omitempty"`
	User    string   `json:"user,omitempty"`
	Args    []string `json:"args,omitempty"`
	Shell   bool     `json:"shell,omitempty"`
}

type stage struct {
	Name     string    `json:"name"`
	Base     string    `json:"base"`
	Commands []command `json:"commands"`
}

type file struct {
	Path     string   `json:"path"`
	Stages   []stage  `json:"stages"`
	Warnings []string `json:"warnings"`
}

func check(path string) (file, error) {
	out := file{Path: path, Warnings: []string{}}
	f, err := os.Open(path)
	if err != nil {
		return out, err
	}
	defer f.Close()
	res, err := parser.Parse(f)
	if err != nil {
		return out, fmt.Errorf("%s: %w", path, err)
	}
	lint := linter.New(&linter.Config{
		Warn: func(rule, description, url, msg string, loc []parser.Range) {
			line := 0
			if len(loc) > 0 {
				line = loc[0].Start.Line
			}
			out.Warnings = append(out.Warnings, fmt.Sprintf("line %d: %s: %s", line, rule, msg))
		},
	})
	stages, _, err := instructions.Parse(res.AST, lint)
	if err != nil {
		return out, fmt.Errorf("%s: %w", path, err)
	}
	for _, s := range stages {
		st := stage{Name: s.Name, Base: s.BaseName, Commands: []command{}}
		for _, c := range s.Commands {
			cmd := command{Name: c.Name()}
			switch v := c.(type) {
			case *instructions.CopyCommand:
				cmd.Sources, cmd.Dest, cmd.From = v.SourcePaths, v.DestPath, v.From
			case *instructions.AddCommand:
				cmd.Sources, cmd.Dest = v.SourcePaths, v.DestPath
			case *instructions.UserCommand:
				cmd.User = v.User
			case *instructions.CmdCommand:
				cmd.Args, cmd.Shell = v.CmdLine, v.PrependShell
			case *instructions.EntrypointCommand:
				cmd.Args, cmd.Shell = v.CmdLine, v.PrependShell
			case *instructions.RunCommand:
				cmd.Args, cmd.Shell = v.CmdLine, v.PrependShell
			case *instructions.ExposeCommand:
				cmd.Args = v.Ports
			case *instructions.WorkdirCommand:
				cmd.Dest = v.Path
			}
			st.Commands = append(st.Commands, cmd)
		}
		out.Stages = append(out.Stages, st)
	}
	return out, nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerfile-check DOCKERFILE...")
		os.Exit(2)
	}
	var files []file
	for _, path := range os.Args[1:] {
		f, err := check(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dockerfile-check:", err)
			os.Exit(1)
		}
		files = append(files, f)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(files); err != nil {
		fmt.Fprintln(os.Stderr, "dockerfile-check:", err)
		os.Exit(1)
	}
}
