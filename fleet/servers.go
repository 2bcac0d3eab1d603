package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/massconn/massconn/internal/launch"
	"github.com/massconn/massconn/server/client"
)

// serverProc is one running massconn-server.
type serverProc struct {
	*launch.Proc
	listen string
}

// serverArgs is the command line of one server of a fleet of n. The
// user's extra arguments come last, so one of them overrides the fleet's
// own of the same flag.
func serverArgs(sp ServerPlan, dbURL string, n int, extraArgs []string) []string {
	args := []string{"serve", "--listen", sp.Listen, "--database-url", dbURL,
		"--max-conns", fmt.Sprint(sp.MaxConns), "--shutdown-timeout", "5s"}
	if n > 1 {
		args = append(args, "--handshake-timeout", fleetHandshakeTimeout)
	}
	args = append(args, sp.Extra...)
	return append(args, extraArgs...)
}

// fleetHandshakeTimeout is the servers' --handshake-timeout in a fleet of
// several servers. Beside as many k6 processes on the same cores, a
// client's upgrade request can come many seconds after its connect, and
// the server's default of 5 s (a guard against clients that connect and
// send nothing) then closes connections the benchmark is still opening.
const fleetHandshakeTimeout = "30s"

// startServers starts one server per plan entry and waits until each
// answers /healthz. A port already taken is an error before anything
// starts: an older server there would answer for the new one.
func startServers(ctx context.Context, bin, dbURL string, plans []ServerPlan, logDir string, extraArgs []string) ([]*serverProc, error) {
	for _, sp := range plans {
		l, err := net.Listen("tcp", sp.Listen)
		if err != nil {
			return nil, fmt.Errorf("server address %s is taken (another server or test running?): "+
				"choose free ports with --base-port: %w", sp.Listen, err)
		}
		l.Close()
	}
	var procs []*serverProc
	for _, sp := range plans {
		p, err := launch.Start(launch.Spec{Name: "server on " + sp.Listen, Bin: bin,
			Args: serverArgs(sp, dbURL, len(plans), extraArgs),
			Log:  filepath.Join(logDir, fmt.Sprintf("server-%02d.log", sp.Index))})
		if err != nil {
			return procs, err
		}
		procs = append(procs, &serverProc{Proc: p, listen: sp.Listen})
	}
	// Many servers start at once on few cores: give each its share of time.
	wait := 60*time.Second + time.Duration(len(procs))*time.Second
	deadline := time.Now().Add(wait)
	for _, p := range procs {
		c := client.New(p.listen, 0)
		if err := p.WaitHealthy(ctx, time.Until(deadline).Round(time.Second), 100*time.Millisecond,
			func() (bool, error) { return serverReady(ctx, c) }); err != nil {
			return procs, err
		}
	}
	return procs, nil
}

// serverReady asks a server's /healthz whether it is ready and, when not,
// names why: no answer, or a listener that has not connected to
// PostgreSQL (the server's log says the database's reason).
func serverReady(ctx context.Context, c *client.Client) (bool, error) {
	h, err := c.Health(ctx)
	switch {
	case err != nil:
		return false, fmt.Errorf("no answer on /healthz: %w", err)
	case !h.Ready():
		return false, errors.New("its PostgreSQL listener is not connected")
	}
	return true, nil
}

// serverStopGrace is how long a server gets to exit after SIGTERM (its
// own --shutdown-timeout is 5s) before it is killed.
const serverStopGrace = 30 * time.Second

// stopAll asks every server to shut down (SIGTERM: clients get close 1001),
// all at once, and kills those still running after grace; it reports the
// ones killed.
func stopAll(procs []*serverProc, grace time.Duration) []string {
	killed := make([]bool, len(procs))
	var wg sync.WaitGroup
	for i, p := range procs {
		wg.Go(func() { killed[i] = p.Stop(grace) != nil })
	}
	wg.Wait()
	var names []string
	for i, p := range procs {
		if killed[i] {
			names = append(names, p.listen)
		}
	}
	return names
}
