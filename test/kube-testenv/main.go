// Command kube-testenv runs a real, single-node Kubernetes control plane on 127.0.0.1 for tests:
// embedded etcd, kube-apiserver and the token-related parts of kube-controller-manager, all built
// from the upstream Go modules.
//
// It is a multi-call binary. `kube-testenv cluster --dir DIR` is the supervisor: it owns etcd and
// starts the two Kubernetes components as child processes of this same executable
// (`kube-testenv kube-apiserver ...`, `kube-testenv kube-controller-manager ...`). The components
// stay in separate processes because each one registers process-global state (feature gates,
// metrics, flags, the component-globals registry) that a second component in the same process
// would clash with.
package main

import (
	"fmt"
	"os"
	"runtime/debug"
)

const (
	componentAPIServer         = "kube-apiserver"
	componentControllerManager = "kube-controller-manager"
)

const usageText = `kube-testenv: a real single-node Kubernetes control plane on 127.0.0.1, for tests.

Usage:
  kube-testenv cluster --dir DIR [flags]   run etcd, kube-apiserver and kube-controller-manager;
                                           print one JSON line on stdout once ready
  kube-testenv version                     print the Kubernetes and etcd module versions
  kube-testenv kube-apiserver ...          (internal) run kube-apiserver; used by "cluster"
  kube-testenv kube-controller-manager ... (internal) run kube-controller-manager; used by "cluster"

Run "kube-testenv cluster --help" for the cluster flags.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usageText)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "cluster":
		os.Exit(runCluster(os.Args[2:]))
	case componentAPIServer:
		os.Exit(runAPIServer(os.Args[2:]))
	case componentControllerManager:
		os.Exit(runControllerManager(os.Args[2:]))
	case "version":
		printVersion()
	case "help", "-h", "-help", "--help":
		fmt.Fprint(os.Stdout, usageText)
	default:
		fmt.Fprintf(os.Stderr, "kube-testenv: unknown command %q\n\n%s", os.Args[1], usageText)
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

func printVersion() {
	fmt.Printf("kubernetes %s\netcd %s\n",
		moduleVersion("k8s.io/kubernetes"), moduleVersion("go.etcd.io/etcd/server/v3"))
}
