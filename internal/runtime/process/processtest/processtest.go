// Package processtest builds a tiny model server for the tests of the process runtime and the
// rollout engine: real processes, no mocks.
//
// The server listens on 127.0.0.1:$PORT and serves /health (200, or $TESTMODEL_HEALTH), /version
// ($TESTMODEL_VERSION, default "v0"), /env (its environment, one variable a line) and /id (uid,
// gid and supplementary groups). Before it listens it prints $TESTMODEL_PRINT (when set), sleeps
// $TESTMODEL_SLEEP (a Go duration) and, with $TESTMODEL_EXIT set, prints a message to stderr and
// exits with that code. With $TESTMODEL_IGNORE_TERM=1 it ignores SIGTERM. With
// $TESTMODEL_ALLOC_MB=N it allocates and touches N MB before it listens (and keeps them).
package processtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

const source = `package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var ballast []byte

func main() {
	if n, err := strconv.Atoi(os.Getenv("TESTMODEL_ALLOC_MB")); err == nil {
		ballast = make([]byte, n<<20)
		for i := 0; i < len(ballast); i += 4096 {
			ballast[i] = 1
		}
		fmt.Println("testmodel: allocated", n, "MB")
	}
	if s := os.Getenv("TESTMODEL_PRINT"); s != "" {
		fmt.Println(s)
	}
	if os.Getenv("TESTMODEL_IGNORE_TERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	}
	if d, err := time.ParseDuration(os.Getenv("TESTMODEL_SLEEP")); err == nil {
		time.Sleep(d)
	}
	if s := os.Getenv("TESTMODEL_EXIT"); s != "" {
		code, _ := strconv.Atoi(s)
		fmt.Fprintf(os.Stderr, "testmodel: failing on purpose with code %d\n", code)
		os.Exit(code)
	}
	health := http.StatusOK
	if s := os.Getenv("TESTMODEL_HEALTH"); s != "" {
		health, _ = strconv.Atoi(s)
	}
	version := os.Getenv("TESTMODEL_VERSION")
	if version == "" {
		version = "v0"
	}
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(health) })
	http.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, version) })
	http.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		env := os.Environ()
		sort.Strings(env)
		fmt.Fprint(w, strings.Join(env, "\n"))
	})
	http.HandleFunc("/id", func(w http.ResponseWriter, r *http.Request) {
		groups, _ := os.Getgroups()
		fmt.Fprintf(w, "%d %d %v", os.Getuid(), os.Getgid(), groups)
	})
	fmt.Println("testmodel: listening on port", os.Getenv("PORT"))
	if err := http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, "testmodel:", err)
		os.Exit(2)
	}
}
`

// Build compiles the model server into dir (which must exist) and returns the binary's path. dir
// and the binary are made world-readable and traversable so that instances running as another
// user (nobody) can execute it; the directories above dir are the caller's business.
func Build(dir string) (string, error) {
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module testmodel\n\ngo 1.22\n"), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(source), 0o644); err != nil {
		return "", err
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = "/usr/local/go/bin/go"
	}
	bin := filepath.Join(dir, "testmodel")
	cmd := exec.Command(goTool, "build", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build test model: %v\n%s", err, out)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	return bin, os.Chmod(bin, 0o755)
}

// Main is a TestMain body: it builds the model server into a fresh temporary directory, stores
// its path in *bin, runs the tests and removes the directory. It returns the exit code.
func Main(m *testing.M, bin *string) int {
	dir, err := os.MkdirTemp("", "arkserve-testmodel-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bin, err = Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
