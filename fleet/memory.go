package fleet

import "github.com/massconn/massconn/fleet/report"

// memory averages RSS over the plateau: the seconds with at least 99% of
// the peak open; the servers' also above what they held before the first
// connection.
func memory(pts []report.Point, clientRSS, serverRSS []RSSRow) report.Memory {
	m := report.Memory{ClientProcesses: countPIDs(clientRSS), ServerProcesses: countPIDs(serverRSS)}
	peakOpen := int64(0)
	for _, p := range pts {
		peakOpen = max(peakOpen, p.Open)
	}
	if peakOpen == 0 {
		return m
	}
	var plateau []report.Point
	for _, p := range pts {
		if float64(p.Open) >= 0.99*float64(peakOpen) {
			plateau = append(plateau, p)
		}
	}
	m.PlateauSeconds = len(plateau)
	// The plateau's first tenth can hold a process's first RSS sample,
	// taken before it had started: leave it out of averages and growth.
	tenth := len(plateau) / 10
	steady := plateau[tenth:]
	var c, s, open float64
	for _, p := range steady {
		c += p.ClientRSSMB
		s += p.ServerRSSMB
		open += float64(p.Open)
	}
	k := float64(len(steady))
	m.ClientRSSBytes = int64(c / k * (1 << 20))
	m.ServerRSSBytes = int64(s / k * (1 << 20))
	m.ClientBytesPerConn = float64(m.ClientRSSBytes) / (open / k)
	m.ServerBytesPerConn = float64(m.ServerRSSBytes) / (open / k)
	if base, ok := serverBaseline(clientRSS, serverRSS); ok && m.ServerRSSBytes > 0 {
		m.ServerBaselineBytes = base
		m.ServerBytesPerConnAboveBaseline = float64(m.ServerRSSBytes-base) / (open / k)
	}
	m.ClientSlopeBytesPerMin = slope(steady, func(p report.Point) float64 { return p.ClientRSSMB }) * (1 << 20) * 60
	m.ServerSlopeBytesPerMin = slope(steady, func(p report.Point) float64 { return p.ServerRSSMB }) * (1 << 20) * 60
	if tenth >= 1 {
		first, last := steady[:tenth], steady[len(steady)-tenth:]
		m.ClientGrowthPct = growth(first, last, func(p report.Point) float64 { return p.ClientRSSMB })
		m.ServerGrowthPct = growth(first, last, func(p report.Point) float64 { return p.ServerRSSMB })
	}
	return m
}

// serverBaseline is the servers' RSS before any k6 process ran: each
// server process's first sample (the fleet takes it when the server is
// ready, before it starts k6), summed. ok is false when some server's
// first sample is not older than every k6 sample (it started late, or its
// RSS log came from elsewhere).
func serverBaseline(clientRSS, serverRSS []RSSRow) (int64, bool) {
	if len(serverRSS) == 0 || len(clientRSS) == 0 {
		return 0, false
	}
	k6Start := clientRSS[0].Time
	for _, r := range clientRSS {
		if r.Time.Before(k6Start) {
			k6Start = r.Time
		}
	}
	first := map[int]RSSRow{}
	for _, r := range serverRSS {
		if f, ok := first[r.PID]; !ok || r.Time.Before(f.Time) {
			first[r.PID] = r
		}
	}
	var kb int64
	for _, r := range first {
		if !r.Time.Before(k6Start) {
			return 0, false
		}
		kb += r.RSSKB
	}
	return kb << 10, true
}

func growth(first, last []report.Point, f func(report.Point) float64) float64 {
	var a, b float64
	for _, p := range first {
		a += f(p)
	}
	for _, p := range last {
		b += f(p)
	}
	if a == 0 {
		return 0
	}
	return (b - a) / a * 100
}

func countPIDs(rows []RSSRow) int {
	seen := map[int]bool{}
	for _, r := range rows {
		seen[r.PID] = true
	}
	return len(seen)
}

// slope is the least-squares slope of f over the points' times, per
// second; 0 with fewer than two distinct times.
func slope(pts []report.Point, f func(report.Point) float64) float64 {
	n := float64(len(pts))
	if n < 2 {
		return 0
	}
	var st, sv float64
	for _, p := range pts {
		st += p.T
		sv += f(p)
	}
	mt, mv := st/n, sv/n
	var num, den float64
	for _, p := range pts {
		num += (p.T - mt) * (f(p) - mv)
		den += (p.T - mt) * (p.T - mt)
	}
	if den == 0 {
		return 0
	}
	return num / den
}
