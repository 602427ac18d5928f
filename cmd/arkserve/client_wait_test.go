package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// progressLine is a plain progress line: time of day, text, elapsed time.
var progressLine = regexp.MustCompile(`^\d\d:\d\d:\d\d (.+) \((?:\d+m)?\d+s\)$`)

// checkProgress checks the lines a --wait printed after the verb's own first line: each a
// progress line, no two in a row the same but for their times, no ANSI sequences; the last one
// starts with final. It returns the lines' texts.
func checkProgress(t *testing.T, out, final string) []string {
	t.Helper()
	if strings.Contains(out, "\x1b") {
		t.Errorf("plain output has ANSI sequences:\n%q", out)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	t.Logf("output:\n%s", out)
	if len(lines) < 2 { // the verb's line, the final line
		t.Fatalf("too few lines:\n%s", out)
	}
	var texts []string
	for _, l := range lines[1:] {
		m := progressLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("not a progress line: %q in\n%s", l, out)
		}
		if len(texts) > 0 && texts[len(texts)-1] == m[1] {
			t.Errorf("line %q repeats the one before it:\n%s", l, out)
		}
		texts = append(texts, m[1])
	}
	if last := texts[len(texts)-1]; !strings.HasPrefix(last, final) {
		t.Errorf("last line %q; want it to start with %q:\n%s", last, final, out)
	}
	return texts
}

// withTerminal makes the client verbs take stdout for a terminal (or not) for the rest of the test.
func withTerminal(t *testing.T, tty bool) {
	old := isTerminal
	isTerminal = func(io.Writer) bool { return tty }
	t.Cleanup(func() { isTerminal = old })
}

// TestClientWait deploys, updates, stops and starts a service with --wait, with real model
// processes: the progress it prints, how it ends, and the error of an update that fails.
func TestClientWait(t *testing.T) {
	url := startClientTestServer(t)
	dir := pythonModelDir(t)
	login(t, url)
	create := func(name, version, cmd string) string {
		t.Helper()
		return strings.TrimSpace(mustCLI(t, "models", "create", "--name", name, "--version", version, "--source", dir, "--cmd", cmd))
	}
	good := create("echo", "1.0.2", pythonCmd)
	broken := create("broken", "1.0.0", "echo failing on purpose >&2; exit 3")

	out := mustCLI(t, "services", "deploy", "--wait", "--name", "echo-svc", "--model", good, "--spec", "arkserve.local.small")
	svc := strings.SplitN(out, "\n", 2)[0]
	if !uuidRE.MatchString(svc) {
		t.Fatalf("deploy --wait: the first line is %q, want the service id:\n%s", svc, out)
	}
	texts := checkProgress(t, out, "SUCCESS: the deployment of service echo-svc is rolled out; it is running")
	if !regexp.MustCompile(`^deploying \d+% echo@1\.0\.2 [0-9?]/1 ready$`).MatchString(texts[0]) {
		t.Errorf("deploy --wait: first state %q; want deploying N%% echo@1.0.2 R/1 ready:\n%s", texts[0], out)
	}
	if !regexp.MustCompile(`(?m)^\S+ running echo@1\.0\.2 [0-9?]/1 ready \(`).MatchString(out) {
		t.Errorf("deploy --wait: no line with the running service:\n%s", out)
	}

	// An update to a model that exits at once fails, is rolled back, and the error says why.
	out, err := cli(t, "services", "update", svc, "--wait", "--model", broken, "--spec", "arkserve.local.small")
	t.Logf("error: %v", err)
	var re *rolloutError
	if !errors.As(err, &re) || exitCode(err) != 3 {
		t.Fatalf("update --wait to a broken model: %v (%T); want a rollout error:\n%s", err, err, out)
	}
	for _, want := range []string{"the update of service echo-svc failed and was rolled back", "broken@1.0.0",
		"exited before it was ready (exit status 3)", "failing on purpose"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("update --wait error does not say %q:\n%v", want, err)
		}
	}
	if !strings.HasPrefix(out, "updated service "+svc+"\n") {
		t.Errorf("update --wait printed:\n%s", out)
	}
	checkProgress(t, out, "FAIL: the update of service echo-svc failed and was rolled back")

	// An update without a configuration has nothing to roll out.
	out = mustCLI(t, "services", "update", svc, "--wait", "--description", "described")
	checkProgress(t, out, "nothing to roll out")

	out = mustCLI(t, "services", "stop", svc, "--wait")
	if !strings.HasPrefix(out, "stopping service "+svc+"\n") {
		t.Errorf("stop --wait printed:\n%s", out)
	}
	checkProgress(t, out, "SUCCESS: service echo-svc is stopped")

	// On a terminal the status block is redrawn in place.
	withTerminal(t, true)
	out = mustCLI(t, "services", "start", svc, "--wait", "--timeout", "2m")
	t.Logf("start --wait on a terminal:\n%q", out)
	if !strings.HasPrefix(out, "starting service "+svc+"\n\r\x1b[2Kstart of service echo-svc: ") ||
		!regexp.MustCompile(`\r\x1b\[2K  echo@1\.0\.2  [0-9?]/1 ready\n`).MatchString(out) ||
		!regexp.MustCompile(`\n\d\d:\d\d:\d\d SUCCESS: service echo-svc is running \(\d+s\)\n$`).MatchString(out) {
		t.Errorf("start --wait on a terminal:\n%q", out)
	}
}

// TestClientWaitTimeout: a deployment that never gets ready ends the wait with a timeout error.
func TestClientWaitTimeout(t *testing.T) {
	url := startClientTestServer(t)
	dir := pythonModelDir(t)
	login(t, url)
	never := strings.TrimSpace(mustCLI(t, "models", "create", "--name", "never", "--version", "1.0.0", "--source", dir,
		"--cmd", "exec sleep 600"))
	out, err := cli(t, "services", "deploy", "--wait", "--timeout", "1500ms", "--name", "never-svc", "--model", never,
		"--spec", "arkserve.local.small")
	t.Logf("error: %v", err)
	if !errors.Is(err, errWaitTimeout) || exitCode(err) != 4 || !strings.Contains(err.Error(), "the deployment of service never-svc did not end within --timeout 1.5s (last seen: deploying") {
		t.Fatalf("deploy --wait of a model that never gets ready: %v; want a timeout:\n%s", err, out)
	}
	var re *rolloutError
	if errors.As(err, &re) {
		t.Errorf("the timeout is a rollout error: %v", err)
	}
}

// TestClientWaitRestart: a --wait keeps polling while the server restarts, and then sees the
// deployment end.
func TestClientWaitRestart(t *testing.T) {
	clientTestEnv(t)
	dir := pythonModelDir(t)
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.ShutdownTimeout.Duration = 10 * time.Second
	open := func() *Main {
		t.Helper()
		m := &Main{Config: cfg, Logger: slog.New(slog.DiscardHandler)}
		if err := m.Open(context.Background()); err != nil {
			m.Close()
			t.Fatal(err)
		}
		return m
	}
	m := open()
	t.Cleanup(func() {
		if m != nil {
			m.Close()
		}
	})
	cfg.Listen = m.HTTP.ListenAddr() // the same address after the restart
	login(t, "http://"+cfg.Listen)
	// The model gets ready only once the file gate exists, so that the deployment cannot end
	// before the restart.
	gate := filepath.Join(dir, "gate")
	model := strings.TrimSpace(mustCLI(t, "models", "create", "--name", "echo", "--version", "1.0.0", "--source", dir,
		"--cmd", "while [ ! -e "+gate+" ]; do sleep 0.05; done; "+pythonCmd))

	// The server closes once the wait has shown the deployment, and opens again on the same data
	// dir once the wait has shown that it cannot reach it; then the model may get ready.
	out := &lineWriter{lines: make(chan string, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // ends the wait of a test that fails
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"services", "deploy", "--wait", "--timeout", "2m", "--name", "echo-svc",
			"--model", model, "--spec", "arkserve.local.small"}, out, io.Discard)
	}()
	waitLine := func(re string) {
		t.Helper()
		for {
			select {
			case l := <-out.lines:
				if regexp.MustCompile(re).MatchString(l) {
					return
				}
			case err := <-done:
				t.Fatalf("the wait ended (%v) before printing a line like %q:\n%s", err, re, out.String())
			}
		}
	}
	waitLine(`^\d\d:\d\d:\d\d (deploying|running) `)
	err := m.Close()
	m = nil
	if err != nil {
		t.Fatal(err)
	}
	waitLine(`^\d\d:\d\d:\d\d retrying: .*connection refused`)
	m = open()
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("deploy --wait across a restart: %v\n%s", err, out.String())
	}
	checkProgress(t, out.String(), "SUCCESS: the deployment of service echo-svc is rolled out")
}

// lineWriter is a stdout that passes each complete line to a channel as well, closed by nobody:
// readers stop at the line they wait for.
type lineWriter struct {
	mu    sync.Mutex // protects the fields below
	buf   bytes.Buffer
	part  string
	lines chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	w.part += string(p)
	for {
		i := strings.IndexByte(w.part, '\n')
		if i < 0 {
			return len(p), nil
		}
		select {
		case w.lines <- w.part[:i]:
		default: // nobody waits for more lines
		}
		w.part = w.part[i+1:]
	}
}

func (w *lineWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestWaitPrinter checks the two renderings: a block redrawn in place on a terminal, and one
// line per change otherwise.
func TestWaitPrinter(t *testing.T) {
	pct := func(n int) *int { return &n }
	at := time.Date(2025, 1, 2, 12, 0, 1, 0, time.UTC)
	withLocation(t, time.UTC)
	states := []*waitState{
		{status: "deploying", progress: pct(0), models: []modelReady{{"echo@1.0.2", 0, 3}}},
		{status: "deploying", progress: pct(33), models: []modelReady{{"echo@1.0.2", 1, 3}, {"digits@2.0.0", 0, 2}}},
		{status: "deploying", progress: pct(33), models: []modelReady{{"echo@1.0.2", 1, 3}, {"digits@2.0.0", 0, 2}}},
		{status: "running", models: []modelReady{{"echo@1.0.2", 3, 3}}},
	}

	t.Run("Terminal", func(t *testing.T) {
		var buf bytes.Buffer
		p := &waitPrinter{w: &buf, tty: true, title: "update of service echo"}
		var draws []string
		for i, s := range states {
			buf.Reset()
			p.show(at, time.Duration(i)*time.Second, s, nil)
			draws = append(draws, buf.String())
		}
		buf.Reset()
		p.show(at, 4*time.Second, states[3], errors.New("connection refused"))
		draws = append(draws, buf.String())
		want := []string{
			"\r\x1b[2Kupdate of service echo: deploying 0%\n\r\x1b[2K  echo@1.0.2  0/3 ready\n\r\x1b[2Kelapsed 0s\n",
			"\x1b[3A\r\x1b[2Kupdate of service echo: deploying 33%\n\r\x1b[2K  echo@1.0.2    1/3 ready\n" +
				"\r\x1b[2K  digits@2.0.0  0/2 ready\n\r\x1b[2Kelapsed 1s\n",
			// Every poll redraws, if only for the elapsed time.
			"\x1b[4A\r\x1b[2Kupdate of service echo: deploying 33%\n\r\x1b[2K  echo@1.0.2    1/3 ready\n" +
				"\r\x1b[2K  digits@2.0.0  0/2 ready\n\r\x1b[2Kelapsed 2s\n",
			// A shorter block clears what the longer one left below it.
			"\x1b[4A\r\x1b[2Kupdate of service echo: running\n\r\x1b[2K  echo@1.0.2  3/3 ready\n\r\x1b[2Kelapsed 3s\n\x1b[J",
			"\x1b[3A\r\x1b[2Kupdate of service echo: running\n\r\x1b[2K  echo@1.0.2  3/3 ready\n" +
				"\r\x1b[2Kelapsed 4s, retrying: connection refused\n",
		}
		for i := range want {
			if draws[i] != want[i] {
				t.Errorf("draw %d = %q; want %q", i, draws[i], want[i])
			}
		}
	})

	t.Run("TerminalWidth", func(t *testing.T) {
		t.Setenv("COLUMNS", "20")
		var buf bytes.Buffer
		p := &waitPrinter{w: &buf, tty: true, title: "deployment of service a-long-service-name"}
		p.show(at, 0, states[0], nil)
		for _, l := range strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n") {
			if l = strings.TrimPrefix(l, "\r\x1b[2K"); len(l) >= 20 {
				t.Errorf("line %q is not cut to the width", l)
			}
		}
	})

	t.Run("Plain", func(t *testing.T) {
		var buf bytes.Buffer
		p := &waitPrinter{w: &buf, title: "update of service echo"}
		for i, s := range states {
			p.show(at.Add(time.Duration(i)*time.Second), time.Duration(i)*time.Second, s, nil)
		}
		refused := errors.New("connection refused")
		p.show(at.Add(4*time.Second), 4*time.Second, states[3], refused)
		p.show(at.Add(5*time.Second), 5*time.Second, states[3], refused)
		p.show(at.Add(6*time.Second), 6*time.Second, states[3], nil)
		p.finish(at.Add(6*time.Second), 6*time.Second, "SUCCESS: done")
		want := "12:00:01 deploying 0% echo@1.0.2 0/3 ready (0s)\n" +
			"12:00:02 deploying 33% echo@1.0.2 1/3 ready, digits@2.0.0 0/2 ready (1s)\n" +
			"12:00:04 running echo@1.0.2 3/3 ready (3s)\n" +
			"12:00:05 retrying: connection refused (4s)\n" +
			"12:00:07 running echo@1.0.2 3/3 ready (6s)\n" +
			"12:00:07 SUCCESS: done (6s)\n"
		if buf.String() != want {
			t.Errorf("plain output:\n%s\nwant\n%s", buf.String(), want)
		}
	})
}

// TestClientWaitFlags: --timeout needs --wait and must be positive; both are usage errors, found
// before any request.
func TestClientWaitFlags(t *testing.T) {
	conn := []string{"--url", "http://127.0.0.1:1", "--token", "t", "--project", "p"}
	for _, args := range [][]string{
		{"services", "start", "x", "--timeout", "1m"},
		{"services", "stop", "x", "--wait", "--timeout", "0s"},
		{"services", "update", "x", "--description", "d", "--timeout", "1m"},
		{"services", "deploy", "--name", "n", "--model", "m", "--wait", "--timeout", "-1s"},
	} {
		if _, err := cli(t, append(args, conn...)...); exitCode(err) != 2 {
			t.Errorf("arkserve %s: %v; want a usage error", strings.Join(args, " "), err)
		}
	}
}
