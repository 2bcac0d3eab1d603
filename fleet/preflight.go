package fleet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"github.com/massconn/massconn/internal/procfs"
)

// The preflight checks, before anything starts, the machine-wide limits a
// run of this size would hit, and raises them when it may (root), so that a
// run does not stall silently at a limit. Each failure names the limit, the
// figure needed and the fix.

// serverDBConns is how many PostgreSQL connections one server process may
// hold: its pool (8, for log reads and pruning) and its listener.
const serverDBConns = 8 + 1

// dbConnsExtra are the run's other PostgreSQL connections (migrate, the
// insert loop, the rows record) plus room for a person's psql.
const dbConnsExtra = 10

// DBConnections is the PostgreSQL connection budget for a run with this
// many server processes.
func DBConnections(servers int) int { return servers*serverDBConns + dbConnsExtra }

// memPerConnEstimate is what one connection costs when client, server and
// kernel share the machine: k6's and the server's memory for it and the
// socket memory of both ends.
const memPerConnEstimate = 22 << 10

// conntrackMax is the kernel's connection-tracking limit; every loopback
// TCP connection takes an entry once netfilter is loaded.
const (
	conntrackMax     = "net.netfilter.nf_conntrack_max"
	conntrackCount   = "net.netfilter.nf_conntrack_count"
	conntrackBuckets = "net.netfilter.nf_conntrack_buckets"
	fileMax          = "fs.file-max"
	fileNr           = "fs.file-nr"
)

// Preflight describes the run to check.
type Preflight struct {
	Connections int64
	System      procfs.System // "" root: the real /proc
	// MayRaise lets the preflight write sysctls (running as root).
	MayRaise bool
}

// Check verifies (and raises, when allowed) the machine-wide limits. It
// returns what it changed, for the progress log.
func (p Preflight) Check() (changed []string, err error) {
	var errs []error
	raise := func(name string, have, need int64, why string) {
		if have >= need {
			return
		}
		if p.MayRaise {
			if werr := p.System.SetSysctl(name, need); werr == nil {
				if now, rerr := p.System.Sysctl(name); rerr == nil && now >= need {
					changed = append(changed, fmt.Sprintf("raised %s from %d to %d (%s)", name, have, now, why))
					return
				}
			}
		}
		errs = append(errs, fmt.Errorf("%s is %d, %d connections need %d: %s; fix: sysctl -w %s=%d (as root)",
			name, have, p.Connections, need, why, name, need))
	}

	// Connection tracking: absent when netfilter was never loaded.
	if have, err := p.System.Sysctl(conntrackMax); err == nil {
		inUse, _ := p.System.Sysctl(conntrackCount)
		// Both ends of a loopback connection share one entry; TIME_WAIT of
		// earlier runs and the database's connections hold some as well.
		need := inUse + p.Connections + p.Connections/10 + 10000
		raise(conntrackMax, have, roundUp(need, 65536), fmt.Sprintf("%d entries in use now; past the limit the kernel "+
			"silently drops new connections ('nf_conntrack: table full, dropping packet' in dmesg)", inUse))
		// The hash table's size only costs CPU (every packet looks its
		// connection up, and long chains make that a visible share of a
		// large run's CPU); raise it along, never fail on it.
		if buckets, err := p.System.Sysctl(conntrackBuckets); err == nil && p.MayRaise {
			if want := roundUp(need/4, 65536); buckets < want && p.System.SetSysctl(conntrackBuckets, want) == nil {
				changed = append(changed, fmt.Sprintf("raised %s from %d to %d (4 entries per bucket at %d connections)",
					conntrackBuckets, buckets, want, p.Connections))
			}
		}
	} else if !errors.Is(err, procfs.ErrNoSysctl) {
		errs = append(errs, err)
	}

	// Open files machine-wide: both ends of every connection are here.
	if have, err := p.System.Sysctl(fileMax); err == nil {
		allocated, _ := p.System.Sysctl(fileNr)
		need := allocated + 2*p.Connections + 50000
		raise(fileMax, have, roundUp(need, 65536), fmt.Sprintf("%d files open now; past the limit accept and connect fail with ENFILE", allocated))
	} else {
		errs = append(errs, err)
	}

	// Memory: an estimate, so only a clear shortage stops the run.
	if avail, err := p.System.MemAvailableKB(); err == nil {
		need := p.Connections * memPerConnEstimate >> 10
		if need > avail {
			errs = append(errs, fmt.Errorf("memory: %d connections need about %d MiB here (%d KiB each for k6, server and kernel), "+
				"MemAvailable is %d MiB; fix: fewer connections, or client and server on separate machines",
				p.Connections, need>>10, memPerConnEstimate>>10, avail>>10))
		}
	} else {
		errs = append(errs, err)
	}
	return changed, errors.Join(errs...)
}

func roundUp(n, to int64) int64 { return (n + to - 1) / to * to }

// serverDBConnsMin is what a server needs at the least: its listener and
// one pooled connection for reading the log.
const serverDBConnsMin = 2

// checkDBBudget says whether a PostgreSQL with maxConns (reserved for
// superusers, inUse already) has room for a run's servers: at least
// serverDBConnsMin each (a throwaway cluster is sized for serverDBConns).
func checkDBBudget(maxConns, reserved, inUse int64, servers int) error {
	need := int64(servers*serverDBConnsMin + dbConnsExtra)
	if free := maxConns - reserved - inUse; free < need {
		return fmt.Errorf("PostgreSQL max_connections is %d (%d reserved for superusers, %d in use): %d server processes "+
			"need at least %d (%d each: the listener and one pooled, up to %d under load) plus %d for the insert loop and the run; "+
			"a server whose listener cannot connect never delivers a row. Fix: max_connections >= %d (better %d), or fewer --servers",
			maxConns, reserved, inUse, servers, need-dbConnsExtra, serverDBConnsMin, serverDBConns, dbConnsExtra,
			need+reserved+inUse, int64(DBConnections(servers))+reserved+inUse)
	}
	return nil
}

// checkDatabase reads the budget of a PostgreSQL the user gave.
func checkDatabase(ctx context.Context, dbURL string, servers int) error {
	db, err := sql.Open("postgres", dbURL)
	if err != nil {
		return fmt.Errorf("database budget: %w", err)
	}
	defer db.Close()
	var maxConns, reserved, inUse int64
	err = db.QueryRowContext(ctx, `SELECT current_setting('max_connections')::bigint,
		current_setting('superuser_reserved_connections')::bigint, (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')`).
		Scan(&maxConns, &reserved, &inUse)
	if err != nil {
		return fmt.Errorf("database budget (max_connections): %w", err)
	}
	return checkDBBudget(maxConns, reserved, inUse, servers)
}

// mayRaise reports whether this process may write sysctls.
func mayRaise() bool { return os.Geteuid() == 0 }
