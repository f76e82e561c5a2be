package fcnacd

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/fosim/fosim/internal/forticlient"
)

const goodRecord = `{"uid":"F8A6AFF3531843B4972CBDBEEEB30E3C","ip":"10.160.1.197","macs":["00-0c-29-2c-4d-d7"],"registered":true,"online":true,"tags":[{"name":"a","type":1}]}`

func TestMalformedRecordsDropped(t *testing.T) {
	bad := []string{
		`{"uid":"xyz","ip":"10.0.0.1"}`,
		`{"uid":"F8A6AFF3531843B4972CBDBEEEB30E3C","ip":"::1"}`,
		`{"uid":"F8A6AFF3531843B4972CBDBEEEB30E3C","ip":"10.0.0.1","macs":["00:11"]}`,
		`{"uid":"F8A6AFF3531843B4972CBDBEEEB30E3C","ip":"10.0.0.1","host":"a\nb"}`,
		`{"uid":"F8A6AFF3531843B4972CBDBEEEB30E3C","ip":"10.0.0.1","tags":[{"name":"has space"}]}`,
		`{"uid":"F8A6AFF3531843B4972CBDBEEEB30E3C","ip":"10.0.0.1","tags":[{"name":"` + strings.Repeat("x", 65) + `"}]}`,
		`{"uid":"F8A6AFF3531843B4972CBDBEEEB30E3C","ip":"10.0.0.1","os":"` + strings.Repeat("x", 300) + `"}`,
		`"a string"`,
	}
	body := `{"revision":3,"endpoints":[` + goodRecord + "," + strings.Join(bad, ",") + `]}`
	rev, recs, dropped, err := decodeEndpoints(strings.NewReader(body))
	if err != nil || rev != 3 || len(recs) != 1 || len(dropped) != len(bad) {
		t.Fatalf("rev %d, %d records, %d dropped, %v", rev, len(recs), len(dropped), err)
	}
	if recs[0].MACs[0] != "00:0c:29:2c:4d:d7" || !recs[0].OnNet || recs[0].Tags[0] != "a" {
		t.Fatalf("record %+v", recs[0])
	}
	for _, b := range []string{`{"endpoints":`, `[]`, `{"revision":"x"}`} {
		if _, _, _, err := decodeEndpoints(strings.NewReader(b)); err == nil {
			t.Errorf("%s accepted", b)
		}
	}
	huge := bytes.Repeat([]byte(" "), MaxBody+1)
	if _, _, _, err := decodeEndpoints(bytes.NewReader(huge)); err == nil || !strings.Contains(err.Error(), "over 64 MiB") {
		t.Fatalf("an oversized answer: %v", err)
	}
	if _, err := decodePush(make([]byte, MaxMessage+1)); err == nil {
		t.Fatal("an oversized push accepted")
	}
	if _, err := decodePush([]byte(`{"type":"format-disk"}`)); err == nil {
		t.Fatal("a push of an unknown type accepted")
	}
	p, err := decodePush([]byte(`{"type":"update","revision":4,"tags":[{"name":"a","type":1}],"endpoints":[` + goodRecord + `,{"uid":1}],"removed":["nope","6108A9179A5C40D7BD57504E15114C1F"]}`))
	if err != nil || len(p.Records) != 1 || len(p.Removed) != 1 || len(p.Dropped) != 2 {
		t.Fatalf("push %+v %v", p, err)
	}
	if _, err := decodeInfo(strings.NewReader(`{"serial":"FGT60E0000000000"}`)); err == nil {
		t.Fatal("a bad EMS serial accepted")
	}
}

func TestTagObjectNames(t *testing.T) {
	for _, c := range []struct {
		name string
		id   int
		tag  string
		mac  bool
		ok   bool
	}{
		{"EMS1_ZTNA_all_registered_clients", 1, "all_registered_clients", false, true},
		{"MAC_EMS3_ZTNA_a", 3, "a", true, true},
		{"EMS8_ZTNA_a", 0, "", false, false},
		{"EMS1_ZTNA_", 0, "", false, false},
		{"EMS1_ZTNAx", 0, "", false, false},
		{"dialup_range", 0, "", false, false},
	} {
		id, tag, mac, ok := parseTagObjectName(c.name)
		if ok != c.ok || (ok && (id != c.id || tag != c.tag || mac != c.mac)) {
			t.Errorf("%s: %d %q %v %v", c.name, id, tag, mac, ok)
		}
		if ok && tagObjectName(id, tag, mac) != c.name {
			t.Errorf("%s does not round-trip", c.name)
		}
	}
}

func FuzzDecodePush(f *testing.F) {
	f.Add([]byte(`{"type":"update","revision":4,"tags":[{"name":"a","type":1}],"endpoints":[` + goodRecord + `],"removed":["6108A9179A5C40D7BD57504E15114C1F"]}`))
	f.Add([]byte(`{"type":"hello","revision":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePush(b)
		if err != nil {
			return
		}
		for _, r := range p.Records {
			if !forticlient.ValidUID(r.UID) || !r.IP.Is4() || len(r.MACs) > maxMACs {
				t.Fatalf("an unchecked record passed: %+v", r)
			}
		}
	})
}

func FuzzDecodeEndpoints(f *testing.F) {
	f.Add([]byte(`{"revision":3,"endpoints":[` + goodRecord + `]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, recs, _, err := decodeEndpoints(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, r := range recs {
			if _, err := json.Marshal(r); err != nil || !forticlient.ValidUID(r.UID) || !r.IP.Is4() {
				t.Fatalf("an unchecked record passed: %+v", r)
			}
			for _, tag := range r.Tags {
				if !forticlient.ValidTagName(tag) {
					t.Fatalf("a bad tag passed: %q", tag)
				}
			}
		}
	})
}
