package main

import (
	"io"
	"os"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // as upstream main: JSON log format
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // as upstream main: client-go metrics
	_ "k8s.io/component-base/metrics/prometheus/version"  // as upstream main: version metric
	apiserverapp "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanagerapp "k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

// orphanGracePeriod bounds how long a component may take to shut down after its supervisor is gone.
const orphanGracePeriod = 15 * time.Second

func runAPIServer(args []string) int {
	return runComponent(apiserverapp.NewAPIServerCommand(), args)
}

func runControllerManager(args []string) int {
	return runComponent(controllermanagerapp.NewControllerManagerCommand(), args)
}

// runComponent runs an upstream component command exactly like its own main() does.
func runComponent(command *cobra.Command, args []string) int {
	exitWhenSupervisorGoes()
	command.SetArgs(args)
	return cli.Run(command)
}

// exitWhenSupervisorGoes is the second line of defence against orphans, after Pdeathsig: the
// supervisor holds the write end of our stdin, so EOF means it is gone (even after SIGKILL).
// The component gets SIGTERM for an orderly stop, then a hard exit if that hangs.
func exitWhenSupervisorGoes() {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		time.Sleep(orphanGracePeriod)
		os.Exit(3)
	}()
}
