package https

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// object is a JSON object whose members keep their order: FortiOS writes
// an entry's attributes in the order of its schema, and its replies'
// members in a fixed order, which encoding/json's maps would sort.
type object []member

type member struct {
	Key   string
	Value any
}

func (o *object) add(key string, v any) { *o = append(*o, member{key, v}) }

// get returns the value of key, or nil.
func (o object) get(key string) any {
	for _, m := range o {
		if m.Key == key {
			return m.Value
		}
	}
	return nil
}

func (o object) MarshalJSON() ([]byte, error) { return appendValue(nil, o, -1) }

// indentJSON writes v indented by two spaces, as FortiOS answers. A
// 10,000-entry table is a few megabytes: the values a reply holds are
// written here directly, without encoding/json's reflection and its
// second pass to indent.
func indentJSON(v any) ([]byte, error) { return appendValue(nil, v, 0) }

// appendValue appends v at depth (-1: compact).
func appendValue(b []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendString(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint8:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case object:
		if len(x) == 0 {
			return append(b, "{}"...), nil
		}
		b = append(b, '{')
		for i, m := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = newline(b, depth+1)
			b = appendString(b, m.Key)
			b = append(b, ':')
			if depth >= 0 {
				b = append(b, ' ')
			}
			var err error
			if b, err = appendValue(b, m.Value, next(depth)); err != nil {
				return nil, err
			}
		}
		b = newline(b, depth)
		return append(b, '}'), nil
	case []string:
		if len(x) == 0 {
			return append(b, "[]"...), nil
		}
		b = append(b, '[')
		for i, s := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = newline(b, depth+1)
			b = appendString(b, s)
		}
		b = newline(b, depth)
		return append(b, ']'), nil
	case []object:
		if len(x) == 0 {
			return append(b, "[]"...), nil
		}
		b = append(b, '[')
		for i, o := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = newline(b, depth+1)
			var err error
			if b, err = appendValue(b, o, next(depth)); err != nil {
				return nil, err
			}
		}
		b = newline(b, depth)
		return append(b, ']'), nil
	}
	// anything else is one scalar (json.Number) or rare: encoding/json,
	// compact
	j, err := json.Marshal(v)
	return append(b, j...), err
}

func next(depth int) int {
	if depth < 0 {
		return -1
	}
	return depth + 1
}

func newline(b []byte, depth int) []byte {
	if depth < 0 {
		return b
	}
	b = append(b, '\n')
	for i := 0; i < depth; i++ {
		b = append(b, "  "...)
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string, escaped as encoding/json does
// (invalid UTF-8 as U+FFFD; <, > and & escaped, so a reply cannot be
// read as HTML).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
