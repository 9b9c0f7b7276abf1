// Command go-winrm-client drives the real Go WinRM client (github.com/masterzen/winrm, Debian's
// golang-github-masterzen-winrm-dev 0.0~git20200615.c42b513) for winrmd's interop tests.
//
// It reads ONE JSON job on stdin, runs its steps in order and writes ONE JSON result on stdout:
//
//	job:    {"host","port","https","insecure","user","password","timeoutSeconds",
//	         "operationTimeout"?, "envelopeSize"?, "auth"?, "caPem"?, "certPem"?, "keyPem"?,
//	         "steps":[...]}
//	auth:   "basic" (default)  the library's default transport: Basic, pre-emptively on every request
//	        "ntlm"             ClientNTLM: go-ntlmssp's Negotiator around the same http.Transport
//	        "certificate"      ClientAuthRequest: the client certificate certPem/keyPem over TLS and the
//	                           .../secprofile/https/mutual Authorization header (no user or password)
//	        caPem, certPem and keyPem are PEM file paths. caPem (any auth) verifies the server's
//	        certificate when insecure is false.
//	steps:  {"kind":"run","command"}                      client.Run
//	        {"kind":"runWithString","command","stdin"}    client.RunWithString
//	        {"kind":"runCancel","command","args"?,"cancelAfterMs"}
//	        {"kind":"execute","command","args"?,"stdin"?}  CreateShell/Execute/Send/Receive/Signal/Delete
//	        {"kind":"parallel","steps":[...]}             sub-steps concurrently, results in order
//	result: {"results":[{"ok","stdout"(b64),"stderr"(b64),"exitCode","error","ms","dials",...}]}
//	        dials: TCP connections the client opened while the step ran (all transports dial
//	        through this program, with the library's own dialer settings; sub-steps of a parallel
//	        step overlap, so their counts do too).
//
// Client errors never abort the program: they go into the step's "error", and a panic in a step
// becomes its error too. Two things do end it non-zero: an unreadable job (exit 2), and a panic
// in the library's own Receive goroutine (fetchOutput), which no caller can recover, e.g. a Receive
// answered 200 with an empty body; Go then prints the trace on stderr and exits 2.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/masterzen/winrm"
)

type job struct {
	Host           string `json:"host"`
	Port           int    `json:"port"`
	HTTPS          bool   `json:"https"`
	Insecure       bool   `json:"insecure"`
	User           string `json:"user"`
	Password       string `json:"password"`
	TimeoutSeconds int    `json:"timeoutSeconds"`
	// Both optional; they default to the library's DefaultParameters (PT60S, 153600). A short
	// OperationTimeout lets a test reach the server's Receive timeout fault quickly.
	OperationTimeout string `json:"operationTimeout"`
	EnvelopeSize     int    `json:"envelopeSize"`
	// "basic" (or empty), "ntlm" or "certificate"; the PEM fields are file paths.
	Auth    string `json:"auth"`
	CAPem   string `json:"caPem"`
	CertPem string `json:"certPem"`
	KeyPem  string `json:"keyPem"`
	Steps   []step `json:"steps"`
}

type step struct {
	Kind          string   `json:"kind"`
	Command       string   `json:"command"`
	Args          []string `json:"args"`
	Stdin         *string  `json:"stdin"` // execute: nil sends no Send at all, "" sends only End
	CancelAfterMs int      `json:"cancelAfterMs"`
	Steps         []step   `json:"steps"`
}

type result struct {
	OK       bool   `json:"ok"`
	Stdout   string `json:"stdout"` // base64 of the exact bytes
	Stderr   string `json:"stderr"`
	ExitCode int    `json:"exitCode"`
	Error    string `json:"error"`
	Ms       int64  `json:"ms"`
	Dials    int64  `json:"dials"`
	// Only for the steps where this program itself sends Signal and Delete (execute, runCancel):
	// the library's Run* ignore both errors, so the tests could not see them otherwise.
	SignalError string `json:"signalError,omitempty"`
	DeleteError string `json:"deleteError,omitempty"`
	Cancelled   bool   `json:"cancelled,omitempty"` // runCancel: the timer fired before the command ended
	// parallel: the sub-steps' results, in order; ok is true when all of them are.
	Results []result `json:"results,omitempty"`
}

func main() {
	var j job
	if err := json.NewDecoder(os.Stdin).Decode(&j); err != nil {
		fmt.Fprintf(os.Stderr, "go-winrm-client: unreadable job: %v\n", err)
		os.Exit(2)
	}
	if j.TimeoutSeconds <= 0 {
		j.TimeoutSeconds = 60
	}
	params := *winrm.DefaultParameters
	if j.OperationTimeout != "" {
		params.Timeout = j.OperationTimeout
	}
	if j.EnvelopeSize > 0 {
		params.EnvelopeSize = j.EnvelopeSize
	}
	// Every transport dials through here, so a step can report how many connections it opened.
	// The dialer has the library's own settings (clientRequest.Transport, ClientAuthRequest).
	libraryDial := (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).Dial
	params.Dial = func(network, addr string) (net.Conn, error) {
		atomic.AddInt64(&dials, 1)
		return libraryDial(network, addr)
	}
	client, err := newClient(j, &params)
	results := make([]result, len(j.Steps))
	for i, s := range j.Steps {
		if err != nil {
			results[i] = result{Error: "NewClient: " + err.Error()}
			continue
		}
		results[i] = runStep(client, s)
	}
	out, _ := json.Marshal(struct {
		Results []result `json:"results"`
	}{results})
	os.Stdout.Write(append(out, '\n'))
}

// dials counts the TCP connections the client has opened (params.Dial).
var dials int64

// newClient builds the client for the job's auth. A PEM file that cannot be read, or a
// certificate the library cannot parse, becomes every step's error.
func newClient(j job, params *winrm.Parameters) (*winrm.Client, error) {
	read := func(path string) ([]byte, error) {
		if path == "" {
			return nil, nil
		}
		return os.ReadFile(path)
	}
	var ca, cert, key []byte
	var err error
	if ca, err = read(j.CAPem); err != nil {
		return nil, err
	}
	if cert, err = read(j.CertPem); err != nil {
		return nil, err
	}
	if key, err = read(j.KeyPem); err != nil {
		return nil, err
	}
	// The endpoint timeout becomes http.Transport.ResponseHeaderTimeout (the only HTTP timeout
	// the library sets). With no CA and insecure false the system roots verify the server.
	ep := winrm.NewEndpoint(j.Host, j.Port, j.HTTPS, j.Insecure, ca, cert, key, time.Duration(j.TimeoutSeconds)*time.Second)
	dial := params.Dial
	switch j.Auth {
	case "", "basic":
		// The default transport (params.TransportDecorator nil): Basic, pre-emptively on every request.
	case "ntlm":
		// What Packer/Terraform set for NTLM: &winrm.ClientNTLM{}; the WithDial form only adds the
		// counting dialer. NTLM state is per connection on the server, and the Negotiator keeps
		// no connection affinity (see go-winrm-auth.test.ts on concurrency).
		params.TransportDecorator = func() winrm.Transporter { return winrm.NewClientNTLMWithDial(dial) }
	case "certificate":
		params.TransportDecorator = func() winrm.Transporter { return winrm.NewClientAuthRequestWithDial(dial) }
	default:
		return nil, fmt.Errorf("unknown auth %q", j.Auth)
	}
	return winrm.NewClientWithParameters(ep, j.User, j.Password, params)
}

// runStep runs one step; a panic inside the library becomes the step's error, not a crash.
func runStep(c *winrm.Client, s step) (r result) {
	start := time.Now()
	dialed := atomic.LoadInt64(&dials)
	defer func() {
		if p := recover(); p != nil {
			r = result{Error: fmt.Sprintf("panic: %v", p)}
		}
		r.Ms = time.Since(start).Milliseconds()
		r.Dials = atomic.LoadInt64(&dials) - dialed
		r.OK = r.Error == "" && r.OK
	}()
	switch s.Kind {
	case "run":
		var out, errb bytes.Buffer
		code, err := c.Run(s.Command, &out, &errb)
		return finish(out.Bytes(), errb.Bytes(), code, err)
	case "runWithString":
		stdin := ""
		if s.Stdin != nil {
			stdin = *s.Stdin
		}
		out, errb, code, err := c.RunWithString(s.Command, stdin)
		return finish([]byte(out), []byte(errb), code, err)
	case "execute":
		return execute(c, s, 0)
	case "runCancel":
		return execute(c, s, time.Duration(s.CancelAfterMs)*time.Millisecond)
	case "parallel":
		r.Results = make([]result, len(s.Steps))
		var wg sync.WaitGroup
		for i, sub := range s.Steps {
			wg.Add(1)
			go func(i int, sub step) {
				defer wg.Done()
				r.Results[i] = runStep(c, sub)
			}(i, sub)
		}
		wg.Wait()
		r.OK = true
		for _, sub := range r.Results {
			r.OK = r.OK && sub.OK
		}
		return r
	default:
		return result{Error: "unknown step kind: " + s.Kind}
	}
}

func finish(stdout, stderr []byte, code int, err error) result {
	r := result{OK: err == nil, Stdout: base64.StdEncoding.EncodeToString(stdout), Stderr: base64.StdEncoding.EncodeToString(stderr), ExitCode: code}
	if err != nil {
		r.Error = err.Error()
	}
	return r
}

// execute is the lower-level path: CreateShell, Execute with one Arguments element per argument,
// optional stdin then End, read both streams, Wait, then Signal (Command.Close) and Delete
// (Shell.Close) as client.Run does. With cancelAfter > 0 it is the runCancel step: this library
// version has no RunWithContext (no context support at all), so cancellation is emulated with the
// only cancel the library has: Command.Close, called from a timer while the command runs, which
// stops the Receive loop after its current request and sends Signal terminate.
func execute(c *winrm.Client, s step, cancelAfter time.Duration) result {
	shell, err := c.CreateShell()
	if err != nil {
		return finish(nil, nil, 1, err)
	}
	cmd, err := shell.Execute(s.Command, s.Args...)
	if err != nil {
		r := finish(nil, nil, 1, err)
		r.DeleteError = errString(shell.Close())
		return r
	}
	var out, errb lockedBuffer
	var readErr error
	var readMu sync.Mutex
	readers := make(chan struct{}, 2)
	for _, p := range []struct {
		src io.Reader
		dst *lockedBuffer
	}{{cmd.Stdout, &out}, {cmd.Stderr, &errb}} {
		// The pipes must be drained concurrently: the Receive loop blocks writing into them.
		go func(src io.Reader, dst *lockedBuffer) {
			// A failed Receive closes the pipes with its error (the library's cmd.err is unexported).
			if _, err := io.Copy(dst, src); err != nil {
				readMu.Lock()
				if readErr == nil {
					readErr = err
				}
				readMu.Unlock()
			}
			readers <- struct{}{}
		}(p.src, p.dst)
	}
	// One Signal per command, from whichever comes first: the cancel timer or the end of Wait.
	var signalMu sync.Mutex
	var signalErr error
	signalled, cancelled := false, false
	signal := func(byTimer bool) {
		signalMu.Lock()
		defer signalMu.Unlock()
		if !signalled {
			signalled, cancelled = true, byTimer
			signalErr = cmd.Close()
		}
	}
	var timer *time.Timer
	if cancelAfter > 0 {
		timer = time.AfterFunc(cancelAfter, func() { signal(true) })
	}
	var stdinErr error
	if s.Stdin != nil {
		if len(*s.Stdin) > 0 {
			_, stdinErr = cmd.Stdin.Write([]byte(*s.Stdin))
		}
		if err := cmd.Stdin.Close(); err != nil && stdinErr == nil { // Send with End="true"
			stdinErr = err
		}
	}
	cmd.Wait()
	if timer != nil {
		timer.Stop()
	}
	// A command that ended closes both pipes, so the readers reach EOF: wait for them, however
	// loaded the machine (a fixed grace here once cut the last chunk of a CI run). On the cancel
	// path the library closes `done` without closing the pipes and the readers never see EOF; its
	// io.Pipes are synchronous, so all output has been handed to them: give them a moment to store
	// the last chunk, then move on.
	signalMu.Lock()
	byTimer := cancelled
	signalMu.Unlock()
	var grace <-chan time.Time
	if byTimer {
		grace = time.After(50 * time.Millisecond)
	}
	for n := 0; n < 2; n++ {
		select {
		case <-readers:
		case <-grace:
			n = 2
		}
	}
	signal(false) // client.Run also sends Signal terminate after the command is Done
	signalMu.Lock()
	wasCancelled := cancelled
	signalMu.Unlock()

	readMu.Lock()
	err = readErr
	readMu.Unlock()
	if err == nil {
		err = stdinErr
	}
	if err == nil && wasCancelled {
		err = fmt.Errorf("context canceled") // the wording of context.Canceled, as a context-aware Run would report
	}
	r := finish(out.Bytes(), errb.Bytes(), cmd.ExitCode(), err)
	r.Cancelled = wasCancelled
	r.SignalError = errString(signalErr)
	r.DeleteError = errString(shell.Close())
	return r
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// lockedBuffer lets the result be read while a reader goroutine that never finished (see
// execute) still holds the buffer.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]byte(nil), l.b.Bytes()...)
}
