package jsonfield

import "time"

// Timestamp reads the value at p in msg as a point in time, in Unix
// nanoseconds. A JSON number counts unit since the Unix epoch; a JSON string
// is parsed as RFC 3339 / ISO 8601, whatever the unit (see ParseTime).
func (p Path) Timestamp(msg []byte, unit time.Duration) (int64, bool) {
	raw, ok := p.Lookup(msg)
	if !ok {
		return 0, false
	}
	return TimestampValue(raw, unit)
}

// TimestampValue reads a raw JSON value (as Lookup returns it) as a point in
// time, as Timestamp does.
func TimestampValue(raw []byte, unit time.Duration) (int64, bool) {
	if len(raw) == 0 {
		return 0, false
	}
	if raw[0] == '"' {
		inner, ok := String(raw)
		if !ok {
			return 0, false
		}
		return ParseTime(inner)
	}
	s := scanner{b: raw}
	v, ok := s.number()
	if !ok || s.i != len(raw) {
		return 0, false
	}
	return int64(v * float64(unit)), true
}

// ParseTime parses the timestamps servers put in messages, without
// allocating: RFC 3339 ("2024-01-01T12:00:00.123Z", "...+02:00") and the
// ISO 8601 / PostgreSQL variants seen in the wild ("2024-01-01
// 12:00:00.123456+00", "+0200", no zone = UTC). It returns Unix nanoseconds.
func ParseTime(b []byte) (int64, bool) {
	// YYYY-MM-DD?HH:MM:SS is 19 bytes.
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	switch b[10] {
	case 'T', 't', ' ':
	default:
		return 0, false
	}
	year, ok1 := digits(b[0:4])
	month, ok2 := digits(b[5:7])
	day, ok3 := digits(b[8:10])
	hour, ok4 := digits(b[11:13])
	minute, ok5 := digits(b[14:16])
	sec, ok6 := digits(b[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 ||
		month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return 0, false
	}
	rest := b[19:]
	var frac int64
	if len(rest) > 0 && (rest[0] == '.' || rest[0] == ',') {
		rest = rest[1:]
		n := 0
		scale := int64(100_000_000)
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			frac += int64(rest[n]-'0') * scale
			scale /= 10
			n++
		}
		if n == 0 {
			return 0, false
		}
		rest = rest[n:]
	}
	var offset int64 // seconds east of UTC
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case rest[0] == '+' || rest[0] == '-':
		z := rest[1:]
		var zh, zm int64
		var ok bool
		switch {
		case len(z) == 2:
			zh, ok = digits(z)
		case len(z) == 4:
			var okm bool
			zh, ok = digits(z[:2])
			zm, okm = digits(z[2:])
			ok = ok && okm
		case len(z) == 5 && z[2] == ':':
			var okm bool
			zh, ok = digits(z[:2])
			zm, okm = digits(z[3:])
			ok = ok && okm
		}
		if !ok || zh > 23 || zm > 59 {
			return 0, false
		}
		offset = zh*3600 + zm*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	secs := daysFromCivil(year, month, day)*86400 + hour*3600 + minute*60 + sec - offset
	return secs*int64(time.Second) + frac, true
}

func digits(b []byte) (int64, bool) {
	var v int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

// daysFromCivil counts days from 1970-01-01 to the proleptic Gregorian date
// (Howard Hinnant's algorithm: eras of 400 years starting in March).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
