// Command etcd is the etcd server of the release k8s.io/kubernetes is tested with, built from
// the go.etcd.io/etcd modules (Debian's etcd-server is 3.4, older than Kubernetes 1.36 accepts).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
