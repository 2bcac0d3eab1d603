package engine

import (
	"compress/flate"
	"errors"
	"fmt"
	"io"
)

// deflateTail ends every permessage-deflate message before inflation: the
// 0x00 0x00 0xff 0xff that RFC 7692 section 7.2.2 has the sender strip,
// followed by an empty final stored block, so that the reader ends the
// stream with io.EOF instead of waiting for more input.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// errTooBig reports an inflated message over the size limit.
var errTooBig = errors.New("inflated message exceeds maxMessageSize")

// inflater decompresses permessage-deflate messages negotiated without
// server context takeover: every message is a stream of its own, so one
// flate reader, reset per message, serves every connection of an event
// loop. Its state (about 40 KB, mostly the 32 KiB window) exists once per
// loop, not per connection.
type inflater struct {
	src messageSource
	fr  io.ReadCloser
	out []byte
}

// inflate returns the decompressed message. The result is valid until the
// next call.
func (f *inflater) inflate(data []byte, limit int64) ([]byte, error) {
	f.src = messageSource{msg: data}
	if f.fr == nil {
		f.fr = flate.NewReader(&f.src)
	} else if err := f.fr.(flate.Resetter).Reset(&f.src, nil); err != nil {
		return nil, fmt.Errorf("resetting the inflater: %w", err)
	}
	// Large results are not kept between messages: one big message should
	// not pin its buffer in the loop for the rest of the run.
	if cap(f.out) > maxKeptInflateBuf {
		f.out = nil
	}
	out := f.out[:0]
	if cap(out) == 0 {
		out = make([]byte, 0, 4<<10)
	}
	for {
		if len(out) == cap(out) {
			out = append(out, 0)[:len(out)]
		}
		n, err := f.fr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if int64(len(out)) > limit {
			f.out, f.src = out[:0], messageSource{}
			return nil, errTooBig
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			f.out, f.src = out[:0], messageSource{}
			return nil, fmt.Errorf("inflating a permessage-deflate message: %w", err)
		}
	}
	f.out, f.src = out, messageSource{}
	return out, nil
}

// maxKeptInflateBuf is the largest inflate buffer kept for the next message.
const maxKeptInflateBuf = 1 << 20

// messageSource reads a message and then deflateTail, as an io.ByteReader
// too, so that flate reads exactly what it needs without a bufio.Reader
// (which would be allocated at every reset).
type messageSource struct {
	msg  []byte
	tail int // bytes of deflateTail already read
}

func (s *messageSource) Read(p []byte) (int, error) {
	if len(s.msg) > 0 {
		n := copy(p, s.msg)
		s.msg = s.msg[n:]
		return n, nil
	}
	if s.tail == len(deflateTail) {
		return 0, io.EOF
	}
	n := copy(p, deflateTail[s.tail:])
	s.tail += n
	return n, nil
}

func (s *messageSource) ReadByte() (byte, error) {
	if len(s.msg) > 0 {
		b := s.msg[0]
		s.msg = s.msg[1:]
		return b, nil
	}
	if s.tail == len(deflateTail) {
		return 0, io.EOF
	}
	b := deflateTail[s.tail]
	s.tail++
	return b, nil
}
