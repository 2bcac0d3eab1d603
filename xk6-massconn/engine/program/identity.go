package program

import "fmt"

// Identity is a template of {{conn}} and {{vu}} only: a value that stays
// the same for the whole life of a connection, such as an MQTT client id or
// user name. It is rendered when the connection opens, so a pool of a
// million connections keeps one template rather than a million strings.
type Identity struct{ t template }

// ParseIdentity compiles text; any variable other than {{conn}} and {{vu}}
// is an error, since the others change on every use.
func ParseIdentity(text string) (Identity, error) {
	t, err := parseTemplate(text)
	if err != nil {
		return Identity{}, err
	}
	for _, p := range t.parts {
		switch p.kind {
		case litPart, connVar, vuVar:
		default:
			return Identity{}, fmt.Errorf("only {{conn}} and {{vu}} can be used here: the others change on every use")
		}
	}
	return Identity{t: t}, nil
}

// Render appends the value for connection conn (its index in the test) of
// VU vu.
func (id *Identity) Render(dst []byte, vu, conn int64) []byte {
	e := Env{Conn: conn, VU: vu}
	return id.t.render(dst, 0, &e)
}

// IsEmpty reports whether the template renders nothing.
func (id *Identity) IsEmpty() bool { return len(id.t.parts) == 0 }
