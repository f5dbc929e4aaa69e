package xmlm

import "testing"

// FuzzXMLMarshaller: Unmarshal never panics, and what it reads, Marshal
// writes and Unmarshal reads back equal.
func FuzzXMLMarshaller(f *testing.F) {
	for _, tc := range pythonDocuments {
		f.Add([]byte(tc.doc))
	}
	f.Add([]byte(`<marshal><object id="i2" module="slapos.slap.slap" class="ComputerPartition"><tuple><string>C</string><string>slappart0</string><none/></tuple><dictionary id="i3"><string>_parameter_dict</string><dictionary id="i4"><string>ip_list</string><list id="i5"><tuple><string>eth0</string><string>10.0.0.1</string></tuple></list></dictionary></dictionary></object></marshal>`))
	f.Add([]byte(`<marshal><set id="i2"><int>1</int><float>1.0</float></set></marshal>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Unmarshal(data)
		if err != nil {
			return
		}
		out, err := Marshal(v)
		if err != nil {
			t.Fatalf("Marshal refused a decoded value %+v: %v", v, err)
		}
		back, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("Unmarshal refused %s (written from %q): %v", out, data, err)
		}
		if !Equal(v, back) {
			t.Fatalf("round trip of %q changed\n%+v\ninto\n%+v", data, v, back)
		}
	})
}
