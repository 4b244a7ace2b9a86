// Command istio-testenv is Istio's own code as test tooling, in one multi-call binary so that the
// shared dependencies (client-go, the Istio packages) compile once:
//
//	istio-testenv oracle [--insecure-kubeconfig-options VALUE]   judge kubeconfigs as istiod does
//	istio-testenv pilot-discovery ...                            istiod itself
//	istio-testenv istioctl ...                                   istioctl itself
//	istio-testenv crds                                           Istio's CRDs, from the module
//	istio-testenv version                                        the Istio module compiled in
//
// Every subcommand runs the upstream entry point unchanged; nothing of Istio is copied here.
// With ISTIO_TESTENV_EXIT_WITH_STDIN=1 a subcommand also stops (SIGTERM to itself, then exit)
// when its stdin closes, so a test run that dies never leaves an istiod behind.
package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"syscall"
	"time"
)

const exitWithStdinEnv = "ISTIO_TESTENV_EXIT_WITH_STDIN"

// exitWithStdin stops this process once stdin closes: the harness holds the other end, so its
// death (even by SIGKILL) closes it. SIGTERM first, for istiod's own graceful shutdown.
func exitWithStdin() {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
		time.Sleep(15 * time.Second)
		os.Exit(3)
	}()
}

const istioModule = "istio.io/istio"

const usageText = `istio-testenv: Istio's own code (istio.io/istio), for tests.

Usage:
  istio-testenv oracle [--insecure-kubeconfig-options VALUE]
      read JSON lines {"id","kubeconfig"} on stdin and answer each with istiod's verdict
      (DefaultBuildClientsFromConfig from pkg/kube/multicluster) as one JSON line on stdout
  istio-testenv pilot-discovery ...   istiod (pilot/cmd/pilot-discovery)
  istio-testenv istioctl ...          istioctl (istioctl/cmd/istioctl)
  istio-testenv crds                  print Istio's CRDs (manifests/charts/base/files/crd-all.gen.yaml)
  istio-testenv version               print the Istio and client-go module versions

With ISTIO_TESTENV_EXIT_WITH_STDIN=1 the command stops when its stdin closes.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usageText)
		os.Exit(2)
	}
	command, args := os.Args[1], os.Args[2:]
	if os.Getenv(exitWithStdinEnv) == "1" {
		exitWithStdin()
	}
	switch command {
	case "oracle":
		os.Exit(runOracle(args))
	case "pilot-discovery":
		os.Exit(runPilotDiscovery(args))
	case "istioctl":
		os.Exit(runIstioctl(args))
	case "crds":
		os.Exit(printCRDs())
	case "version":
		fmt.Printf("istio %s\nclient-go %s\n", moduleVersion(istioModule), moduleVersion("k8s.io/client-go"))
	case "help", "-h", "-help", "--help":
		fmt.Print(usageText)
	default:
		fmt.Fprintf(os.Stderr, "istio-testenv: unknown command %q\n\n%s", command, usageText)
		os.Exit(2)
	}
}

// moduleVersion reports the version of a dependency compiled into this binary.
func moduleVersion(path string) string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, dep := range info.Deps {
		if dep.Path == path {
			if dep.Replace != nil {
				return dep.Replace.Version
			}
			return dep.Version
		}
	}
	return "unknown"
}
