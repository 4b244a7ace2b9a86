package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"
)

// child is one control-plane component running as a child process of the supervisor.
type child struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	stdin   io.WriteCloser // held open for the child's lifetime; see exitWhenSupervisorGoes
	done    chan struct{}  // closed once the process has exited
	waitErr error          // valid once done is closed
}

// startChild runs this same executable as `self <name> args...`, with stdout and stderr appended to
// logPath.
func startChild(name string, args []string, logPath string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append([]string{name}, args...)...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// The kernel kills the child when the supervisor dies, however it dies.
		Pdeathsig: syscall.SIGKILL,
		// Own process group: a Ctrl-C on the terminal reaches only the supervisor, which then stops
		// the components in order (controller manager, apiserver, etcd).
		Setpgid: true,
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		_ = logFile.Close()
		return nil, err
	}
	c := &child{name: name, logPath: logPath, cmd: cmd, stdin: stdin, done: make(chan struct{})}

	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the *thread* that forked the child exits, not the process. Go may
		// retire threads, so fork from a locked thread and keep it until the child is gone.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.waitErr = cmd.Wait()
		_ = logFile.Close()
		close(c.done)
	}()
	if err := <-started; err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop asks the component to shut down with SIGTERM and kills it after grace.
func (c *child) stop(grace time.Duration) {
	if c.exited() {
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	_ = c.stdin.Close()
}

// exitDescription says how the child ended, for error messages.
func (c *child) exitDescription() string {
	var exitErr *exec.ExitError
	if errors.As(c.waitErr, &exitErr) {
		return exitErr.ProcessState.String()
	}
	if c.waitErr != nil {
		return c.waitErr.Error()
	}
	return "exit status 0"
}
