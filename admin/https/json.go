package https

import (
	"bytes"
	"encoding/json"
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

func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.Key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(m.Value)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
