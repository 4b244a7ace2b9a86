package main

import (
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// startEtcd runs etcd inside the supervisor process, on a loopback port chosen by the kernel.
// With keep (--keep-data) it writes as etcd normally does, with fsync, since the data outlives it.
func startEtcd(dataDir, logPath string, timeout time.Duration, keep bool) (*embed.Etcd, string, error) {
	// Port 0 everywhere: etcd binds the listeners itself, so there is no race for a free port.
	// Nothing ever dials the advertised URLs of a single-member cluster.
	loopback := url.URL{Scheme: "http", Host: "127.0.0.1:0"}

	cfg := embed.NewConfig()
	cfg.Name = "kube-testenv"
	cfg.Dir = dataDir
	cfg.ListenClientUrls = []url.URL{loopback}
	cfg.AdvertiseClientUrls = []url.URL{loopback}
	cfg.ListenPeerUrls = []url.URL{loopback}
	cfg.AdvertisePeerUrls = []url.URL{loopback}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// The HTTP/JSON gateway dials the configured client URL, port 0 and all; only gRPC is used.
	cfg.EnableGRPCGateway = false
	cfg.Logger = "zap"
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{logPath}
	// Unless kept, the data lives exactly as long as the cluster, so durability buys nothing and
	// fsync costs every write on a slow CI disk.
	cfg.UnsafeNoFsync = !keep

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, "", fmt.Errorf("etcd failed: %w", err)
	case <-time.After(timeout):
		e.Close()
		return nil, "", fmt.Errorf("etcd not ready after %s (log: %s)", timeout, logPath)
	}
	if len(e.Clients) == 0 {
		e.Close()
		return nil, "", fmt.Errorf("etcd has no client listener")
	}
	return e, "http://" + e.Clients[0].Addr().String(), nil
}
