// Package tlsrecord is the TLS 1.3 record layer (RFC 8446 section 5) for a
// session whose handshake crypto/tls already completed. It holds two AEAD
// states and two traffic secrets, a few hundred bytes in all, instead of
// the read and write buffers of a tls.Conn, and it never buffers: callers
// hand it whole records and buffers to append to.
//
// What it supports of the post-handshake protocol: application data,
// NewSessionTicket (ignored: sessions are not resumed), KeyUpdate in both
// directions (RFC 8446 section 4.6.3) and alerts (every alert ends the
// session; close_notify as io.EOF).
package tlsrecord

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// Record content types (RFC 8446 section 5.1).
const (
	TypeChangeCipherSpec byte = 20
	TypeAlert            byte = 21
	TypeHandshake        byte = 22
	TypeApplicationData  byte = 23
)

const (
	// HeaderLen is the size of a record header.
	HeaderLen = 5
	// MaxPlaintext is the largest plaintext one record carries.
	MaxPlaintext = 1 << 14
	// maxCiphertext bounds TLSCiphertext.length (RFC 8446 section 5.2).
	maxCiphertext = MaxPlaintext + 256
	tagLen        = 16

	handshakeNewSessionTicket = 4
	handshakeKeyUpdate        = 24
	// maxHandshakeMessage bounds a post-handshake message that spans
	// records; a NewSessionTicket is a few hundred bytes.
	maxHandshakeMessage = 1 << 16
)

var (
	// ErrRecordHeader is a record header no TLS 1.3 peer sends.
	ErrRecordHeader = errors.New("tls record: malformed record header")
	// ErrRecordOverflow is a record longer than RFC 8446 allows.
	ErrRecordOverflow = errors.New("tls record: record overflow")
	// ErrDecrypt is a record that does not authenticate (bad_record_mac).
	ErrDecrypt = errors.New("tls record: record does not decrypt")
	// ErrUnexpected is a message TLS 1.3 does not allow after the handshake.
	ErrUnexpected = errors.New("tls record: unexpected message")
)

// AlertError is an alert the peer sent; close_notify is reported as io.EOF
// instead.
type AlertError struct{ Level, Description byte }

func (e AlertError) Error() string {
	return fmt.Sprintf("tls record: peer sent alert %d (level %d)", e.Description, e.Level)
}

// Next reports the size of the whole record at the start of buf, header
// included, or 0 if buf does not hold a whole record yet. It validates the
// header as far as it is present.
func Next(buf []byte) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	if buf[0] < TypeChangeCipherSpec || buf[0] > TypeApplicationData {
		return 0, fmt.Errorf("%w: content type %d", ErrRecordHeader, buf[0])
	}
	if len(buf) >= 2 && buf[1] != 3 {
		return 0, fmt.Errorf("%w: version major %d", ErrRecordHeader, buf[1])
	}
	if len(buf) < HeaderLen {
		return 0, nil
	}
	n := int(binary.BigEndian.Uint16(buf[3:5]))
	if n > maxCiphertext {
		return 0, fmt.Errorf("%w: %d bytes", ErrRecordOverflow, n)
	}
	if len(buf) < HeaderLen+n {
		return 0, nil
	}
	return HeaderLen + n, nil
}

// Size is the size of the record whose header starts buf (at least
// HeaderLen bytes, already validated by Next), for sizing a buffer that
// collects it across reads.
func Size(buf []byte) int { return HeaderLen + int(binary.BigEndian.Uint16(buf[3:5])) }

// direction is one direction's traffic keys (RFC 8446 section 7). The
// AEAD (about 1 KB: the expanded AES key schedule and the GHASH table) is
// built from key when a record needs it and dropped by Trim while the
// session idles.
type direction struct {
	aead   cipher.AEAD
	key    [32]byte
	iv     [12]byte
	seq    uint64
	secret []byte
	gen    uint32   // key updates so far
	nonce  [12]byte // scratch: a slice of a local would escape through the AEAD interface
}

type suiteInfo struct {
	hash   func() hash.Hash
	keyLen int
	aead   func(key []byte) (cipher.AEAD, error)
}

func suiteOf(id uint16) (suiteInfo, error) {
	switch id {
	case tls.TLS_AES_128_GCM_SHA256:
		return suiteInfo{sha256.New, 16, newGCM}, nil
	case tls.TLS_AES_256_GCM_SHA384:
		return suiteInfo{sha512.New384, 32, newGCM}, nil
	case tls.TLS_CHACHA20_POLY1305_SHA256:
		return suiteInfo{sha256.New, chacha20poly1305.KeySize, chacha20poly1305.New}, nil
	}
	return suiteInfo{}, fmt.Errorf("tls record: cipher suite %#04x is not a TLS 1.3 suite", id)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// expandLabel is HKDF-Expand-Label with an empty context (RFC 8446
// section 7.1).
func expandLabel(h func() hash.Hash, secret []byte, label string, length int) ([]byte, error) {
	full := "tls13 " + label
	info := make([]byte, 0, 4+len(full))
	info = binary.BigEndian.AppendUint16(info, uint16(length))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0) // context length
	return hkdf.Expand(h, secret, string(info), length)
}

func (d *direction) setSecret(s suiteInfo, secret []byte) error {
	key, err := expandLabel(s.hash, secret, "key", s.keyLen)
	if err != nil {
		return fmt.Errorf("tls record: deriving the traffic key: %w", err)
	}
	iv, err := expandLabel(s.hash, secret, "iv", len(d.iv))
	if err != nil {
		return fmt.Errorf("tls record: deriving the traffic iv: %w", err)
	}
	aead, err := s.aead(key)
	if err != nil {
		return fmt.Errorf("tls record: traffic key: %w", err)
	}
	d.aead, d.secret, d.seq = aead, secret, 0
	copy(d.key[:], key)
	copy(d.iv[:], iv)
	return nil
}

// cipher returns the AEAD, rebuilding it after Trim.
func (d *direction) cipher(s suiteInfo) cipher.AEAD {
	if d.aead == nil {
		// The key was accepted when it was derived: this cannot fail.
		d.aead, _ = s.aead(d.key[:s.keyLen])
	}
	return d.aead
}

// update moves to the next generation of traffic secret.
func (d *direction) update(s suiteInfo) error {
	next, err := expandLabel(s.hash, d.secret, "traffic upd", s.hash().Size())
	if err != nil {
		return fmt.Errorf("tls record: key update: %w", err)
	}
	if err := d.setSecret(s, next); err != nil {
		return err
	}
	d.gen++
	return nil
}

// nextNonce is the per-record nonce: the IV xor the sequence number.
func (d *direction) nextNonce() []byte {
	d.nonce = d.iv
	var seq [8]byte
	binary.BigEndian.PutUint64(seq[:], d.seq)
	for i := range seq {
		d.nonce[4+i] ^= seq[i]
	}
	return d.nonce[:]
}

// Session is the record layer of one TLS 1.3 connection, client side.
type Session struct {
	suite      suiteInfo
	read       direction
	write      direction
	pending    []byte // a post-handshake message split over records; nil otherwise
	updateOwed bool   // the peer asked us to update our write keys
	// updateAfter is how many records are sealed with one key before the
	// session moves to the next (RFC 8446 section 5.5).
	updateAfter uint64
	used        bool // a record was sealed or opened since the last Trim
}

// Trim drops the AEAD states if no record was sealed or opened since the
// previous Trim, so that an idle session holds only its keys (a few
// hundred bytes); the next record rebuilds them. Callers call it
// periodically.
func (s *Session) Trim() {
	if !s.used {
		s.read.aead, s.write.aead = nil, nil
	}
	s.used = false
}

// DefaultUpdateAfter is below the AES-GCM limit of RFC 8446 section 5.5
// (2^24.5 full-size records).
const DefaultUpdateAfter = 1 << 24

// NewSession starts the record layer from the application traffic secrets
// (client_application_traffic_secret_0 and the server's) of a handshake
// that negotiated suite. updateAfter = 0 means DefaultUpdateAfter.
func NewSession(suite uint16, clientSecret, serverSecret []byte, updateAfter uint64) (*Session, error) {
	s, err := suiteOf(suite)
	if err != nil {
		return nil, err
	}
	if n := s.hash().Size(); len(clientSecret) != n || len(serverSecret) != n {
		return nil, fmt.Errorf("tls record: traffic secrets of %d and %d bytes, suite %#04x needs %d",
			len(clientSecret), len(serverSecret), suite, n)
	}
	if updateAfter == 0 {
		updateAfter = DefaultUpdateAfter
	}
	ss := &Session{suite: s, updateAfter: updateAfter}
	if err := ss.write.setSecret(s, clientSecret); err != nil {
		return nil, err
	}
	if err := ss.read.setSecret(s, serverSecret); err != nil {
		return nil, err
	}
	return ss, nil
}

// Generations reports how many key updates each direction went through.
func (s *Session) Generations() (read, write uint32) { return s.read.gen, s.write.gen }

// KeyUpdateOwed reports that the peer asked for a key update that has not
// been sent yet; Seal(dst, nil) sends it.
func (s *Session) KeyUpdateOwed() bool { return s.updateOwed }

// Seal appends to dst the records that carry data as application data,
// preceded by a KeyUpdate when one is owed or the write key is worn out.
// Seal(dst, nil) appends only an owed KeyUpdate, if any. data must not
// overlap dst's spare capacity.
func (s *Session) Seal(dst, data []byte) []byte {
	if s.updateOwed || s.write.seq >= s.updateAfter {
		// A key we retire for its own sake also asks the peer to
		// renew its keys (request_update = 1), which RFC 8446 allows.
		requested := byte(0)
		if !s.updateOwed {
			requested = 1
		}
		dst = s.seal(dst, TypeHandshake, []byte{handshakeKeyUpdate, 0, 0, 1, requested})
		// The only failure is an HKDF output length out of range, which
		// the suites above never ask for.
		_ = s.write.update(s.suite)
		s.updateOwed = false
	}
	for len(data) > 0 {
		n := min(len(data), MaxPlaintext)
		dst = s.seal(dst, TypeApplicationData, data[:n])
		data = data[n:]
	}
	return dst
}

func (s *Session) seal(dst []byte, typ byte, data []byte) []byte {
	d := &s.write
	n := len(data) + 1 + tagLen
	start := len(dst)
	if free := cap(dst) - len(dst); free < HeaderLen+n {
		grown := make([]byte, len(dst), 2*cap(dst)+HeaderLen+n)
		copy(grown, dst)
		dst = grown
	}
	dst = append(dst, TypeApplicationData, 3, 3, byte(n>>8), byte(n))
	dst = append(dst, data...)
	dst = append(dst, typ)
	inner := dst[start+HeaderLen:]
	sealed := d.cipher(s.suite).Seal(inner[:0], d.nextNonce(), inner, dst[start:start+HeaderLen])
	s.used = true
	d.seq++
	return dst[:start+HeaderLen+len(sealed)]
}

// Open decrypts one whole record (as sized by Next) in place and returns
// the application data it carries, possibly none: handshake messages are
// handled here. An alert from the peer returns io.EOF (close_notify) or an
// AlertError; every error ends the session.
func (s *Session) Open(record []byte) ([]byte, error) {
	if len(record) < HeaderLen {
		return nil, ErrRecordHeader
	}
	switch record[0] {
	case TypeApplicationData:
	case TypeChangeCipherSpec:
		// Only allowed during the handshake (RFC 8446 section 5).
		return nil, fmt.Errorf("%w: change_cipher_spec", ErrUnexpected)
	case TypeAlert:
		// A plaintext alert: the peer failed before it could encrypt.
		return nil, alert(record[HeaderLen:])
	default:
		return nil, fmt.Errorf("%w: plaintext record of type %d", ErrUnexpected, record[0])
	}
	d := &s.read
	body := record[HeaderLen:]
	plain, err := d.cipher(s.suite).Open(body[:0], d.nextNonce(), body, record[:HeaderLen])
	s.used = true
	if err != nil {
		return nil, ErrDecrypt
	}
	d.seq++
	// Strip the zero padding; the last non-zero byte is the real type.
	i := len(plain) - 1
	for i >= 0 && plain[i] == 0 {
		i--
	}
	if i < 0 {
		return nil, fmt.Errorf("%w: record without a content type", ErrUnexpected)
	}
	typ, plain := plain[i], plain[:i]
	if len(plain) > MaxPlaintext {
		return nil, fmt.Errorf("%w: %d bytes of plaintext", ErrRecordOverflow, len(plain))
	}
	switch typ {
	case TypeApplicationData:
		if s.pending != nil {
			return nil, fmt.Errorf("%w: application data inside a handshake message", ErrUnexpected)
		}
		return plain, nil
	case TypeHandshake:
		return nil, s.handshake(plain)
	case TypeAlert:
		return nil, alert(plain)
	}
	return nil, fmt.Errorf("%w: inner content type %d", ErrUnexpected, typ)
}

func alert(b []byte) error {
	if len(b) != 2 {
		return fmt.Errorf("%w: alert of %d bytes", ErrUnexpected, len(b))
	}
	if b[1] == 0 {
		return io.EOF
	}
	return AlertError{Level: b[0], Description: b[1]}
}

// handshake handles post-handshake messages, which may be coalesced in one
// record or span several.
func (s *Session) handshake(b []byte) error {
	if s.pending != nil {
		s.pending = append(s.pending, b...)
		b = s.pending
	}
	for len(b) >= 4 {
		n := 4 + (int(b[1])<<16 | int(b[2])<<8 | int(b[3]))
		if n > maxHandshakeMessage {
			return fmt.Errorf("%w: handshake message of %d bytes", ErrRecordOverflow, n)
		}
		if len(b) < n {
			break
		}
		if err := s.handshakeMessage(b[0], b[4:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	if len(b) == 0 {
		s.pending = nil
		return nil
	}
	s.pending = append([]byte(nil), b...)
	return nil
}

func (s *Session) handshakeMessage(typ byte, body []byte) error {
	switch typ {
	case handshakeNewSessionTicket:
		return nil // sessions are not resumed
	case handshakeKeyUpdate:
		if len(body) != 1 || body[0] > 1 {
			return fmt.Errorf("%w: malformed KeyUpdate", ErrUnexpected)
		}
		if err := s.read.update(s.suite); err != nil {
			return err
		}
		if body[0] == 1 {
			s.updateOwed = true
		}
		return nil
	}
	return fmt.Errorf("%w: handshake message %d after the handshake", ErrUnexpected, typ)
}
