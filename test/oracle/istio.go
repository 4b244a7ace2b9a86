package main

import (
	"fmt"
	"os"

	// As pilot-discovery's main does: GOMEMLIMIT from the cgroup limit.
	_ "github.com/KimMachineGun/automemlimit"

	istioctl "istio.io/istio/istioctl/cmd"
	"istio.io/istio/manifests"
	pilot "istio.io/istio/pilot/cmd/pilot-discovery/app"
	"istio.io/istio/pkg/log"
)

// runPilotDiscovery is pilot/cmd/pilot-discovery's main with the arguments after the subcommand.
func runPilotDiscovery(args []string) int {
	log.EnableKlogWithCobra()
	root := pilot.NewRootCommand()
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		log.Error(err)
		return 255 // pilot-discovery's os.Exit(-1)
	}
	return 0
}

// runIstioctl is istioctl/cmd/istioctl's main with the arguments after the subcommand.
func runIstioctl(args []string) int {
	if err := istioctl.ConfigAndEnvProcessing(); err != nil {
		fmt.Fprintf(os.Stderr, "Could not initialize: %v\n", err)
		return istioctl.GetExitCode(err)
	}
	root := istioctl.GetRootCmd(args)
	log.EnableKlogWithCobra()
	if err := root.Execute(); err != nil {
		return istioctl.GetExitCode(err)
	}
	return 0
}

// crdFile is where Istio's chart keeps every CRD istiod watches.
const crdFile = "charts/base/files/crd-all.gen.yaml"

// printCRDs writes Istio's CRDs, as the module embeds them, to stdout.
func printCRDs() int {
	data, err := manifests.FS.ReadFile(crdFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "istio-testenv crds:", err)
		return 1
	}
	_, _ = os.Stdout.Write(data)
	return 0
}
