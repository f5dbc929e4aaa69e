package xmlm

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// Documents as xml_marshaller 1.0 (Python 3) writes them.
var pythonDocuments = []struct {
	name string
	doc  string
	want Value
}{
	{"None (state of a request without one)", `<marshal><none/></marshal>`, None()},
	{"bool (shared_xml)", `<marshal><bool>0</bool></marshal>`, Bool(false)},
	{"str", `<marshal><string>started</string></marshal>`, String("started")},
	{"str with markup, escaped twice", `<marshal><string>a&amp;amp;b &amp;lt;c&amp;gt;</string></marshal>`, String("a&b <c>")},
	{"unicode element of Python 2", `<marshal><unicode>caf&#233;</unicode></marshal>`, String("café")},
	{"int and long", `<marshal><tuple><int>-3</int><long>12</long></tuple></marshal>`, Tuple(Int(-3), Int(12))},
	{"float", `<marshal><list id="i2"><float>1.5</float><float>1e+16</float><float>-inf</float></list></marshal>`,
		List(Float(1.5), Float(1e16), Float(math.Inf(-1)))},
	{"empty dict (filter_xml)", `<marshal><dictionary id="i2"/></marshal>`, Dict()},
	{"parameter dict with the JSON-in-XML key", `<marshal><dictionary id="i2"><string>_</string><string>{"a": 1}</string></dictionary></marshal>`,
		Dict(String("_"), String(`{"a": 1}`))},
	{"reference to a list written before", `<marshal><tuple><list id="i2"><int>1</int></list><reference id="i2"/></tuple></marshal>`,
		Tuple(List(Int(1)), List(Int(1)))},
	{"namespaced", `<?xml version="1.0"?><marshal:marshal xmlns:marshal="http://www.erp5.org/namespaces/marshaller"><marshal:int>1</marshal:int></marshal:marshal>`, Int(1)},
	{"object pickle", `<marshal><object id="i2" module="slapos.slap.slap" class="SoftwareRelease"><tuple><string>http://sr/</string><string>COMP-1</string></tuple><dictionary id="i3"><string>_requested_state</string><string>available</string></dictionary></object></marshal>`,
		Object("slapos.slap.slap", "SoftwareRelease", []Value{String("http://sr/"), String("COMP-1")},
			Dict(String("_requested_state"), String("available")))},
	{"white space between elements", "<marshal>\n <list id=\"i2\">\n  <none/>\n </list>\n</marshal>\n", List(None())},
}

func TestUnmarshalPythonDocuments(t *testing.T) {
	for _, tc := range pythonDocuments {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Unmarshal([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if !Equal(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			back, err := Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Unmarshal(back)
			if err != nil {
				t.Fatalf("%v reading back %s", err, back)
			}
			if !Equal(again, got) {
				t.Fatalf("round trip changed %+v into %+v (%s)", got, again, back)
			}
		})
	}
}

func TestMarshalWritesWhatPythonWrites(t *testing.T) {
	for _, tc := range []struct {
		v    Value
		want string
	}{
		{None(), `<marshal><none/></marshal>`},
		{Bool(true), `<marshal><bool>1</bool></marshal>`},
		{StringDict(map[string]string{"b": "x<y", "a": "1&2"}),
			`<marshal><dictionary id="i2"><string>a</string><string>1&amp;amp;2</string><string>b</string><string>x&amp;lt;y</string></dictionary></marshal>`},
		{Object("slapos.slap.slap", "Computer", []Value{String("COMP-1")}, Dict(String("_computer_partition_list"), List())),
			`<marshal><object id="i2" module="slapos.slap.slap" class="Computer"><tuple><string>COMP-1</string></tuple><dictionary id="i3"><string>_computer_partition_list</string><list id="i4"></list></dictionary></object></marshal>`},
	} {
		got, err := Marshal(tc.v)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.want {
			t.Errorf("Marshal(%+v)\n got %s\nwant %s", tc.v, got, tc.want)
		}
	}
}

func TestFormatFloatAsPythonRepr(t *testing.T) {
	for f, want := range map[float64]string{
		1: "1.0", 1.5: "1.5", -2.25: "-2.25", 1e16: "1e+16", 1e15: "1000000000000000.0", 0.0001: "0.0001",
		0.00001: "1e-05", 1.5e-7: "1.5e-07", 1.7976931348623157e308: "1.7976931348623157e+308",
		math.Inf(1): "inf", math.NaN(): "nan", 0: "0.0", 123456789.125: "123456789.125",
	} {
		if got := FormatFloat(f); got != want {
			t.Errorf("FormatFloat(%v) = %q, want %q", f, got, want)
		}
	}
}

func TestRoundTripOfBuiltValues(t *testing.T) {
	weird := "tab\tnew\nline\rcr \"q\" 'a' &amp; <x> é 😀"
	v := Tuple(None(), Bool(true), Int(math.MinInt64), Int(math.MaxInt64), Float(math.Copysign(0, -1)), Float(math.NaN()),
		String(""), String(weird), List(), Value{Kind: KindSet, Items: []Value{Int(1), String("1")}},
		Dict(Int(1), String("one"), Tuple(String("a"), None()), List(Dict())),
		Object("m&<\"", "C\n", nil, Dict(String(weird), Float(1e300))))
	data, err := Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Unmarshal(data)
	if err != nil {
		t.Fatalf("%v in %s", err, data)
	}
	if !Equal(got, v) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, v)
	}
}

func TestMarshalRefuses(t *testing.T) {
	for name, v := range map[string]Value{
		"NUL in a string":     String("a\x00b"),
		"invalid UTF-8":       String("a\xffb"),
		"odd dict":            {Kind: KindDict, Items: []Value{String("k")}},
		"object without dict": {Kind: KindObject, Module: "m", Class: "c", Items: []Value{Tuple()}},
	} {
		if _, err := Marshal(v); err == nil {
			t.Errorf("%s: Marshal accepted it", name)
		}
	}
}

func TestUnmarshalRefuses(t *testing.T) {
	deep := strings.Repeat("<tuple>", MaxDepth+2) + strings.Repeat("</tuple>", MaxDepth+2)
	// Each list holds two references to the one before: 2^30 values.
	var bomb strings.Builder
	bomb.WriteString(`<marshal><tuple><list id="i0"><int>1</int></list>`)
	for i := 1; i <= 30; i++ {
		bomb.WriteString(`<list id="i` + itoa(i) + `"><reference id="i` + itoa(i-1) + `"/><reference id="i` + itoa(i-1) + `"/></list>`)
	}
	bomb.WriteString(`</tuple></marshal>`)
	for _, tc := range []struct{ name, doc, want string }{
		{"empty", ``, "ends early"},
		{"not marshal", `<dump><int>1</int></dump>`, "root element"},
		{"two values", `<marshal><int>1</int><int>2</int></marshal>`, "more than one value"},
		{"no value", `<marshal></marshal>`, "holds no value"},
		{"trailing data", `<marshal><int>1</int></marshal><x/>`, "after </marshal>"},
		{"unknown element", `<marshal><code>eJw=</code></marshal>`, "unknown element <code>"},
		{"bad int", `<marshal><int>1.5</int></marshal>`, "not a decimal integer"},
		{"huge int", `<marshal><long>123456789012345678901234567890</long></marshal>`, "64-bit range"},
		{"bad float", `<marshal><float>0x1p3</float></marshal>`, "not a decimal number"},
		{"odd dict", `<marshal><dictionary id="i2"><string>k</string></dictionary></marshal>`, "in pairs"},
		{"key twice", `<marshal><dictionary id="i2"><string>k</string><none/><string>k</string><none/></dictionary></marshal>`, "given twice"},
		{"True and 1 are one key", `<marshal><dictionary id="i2"><bool>1</bool><none/><int>1</int><none/></dictionary></marshal>`, "given twice"},
		{"unhashable key", `<marshal><dictionary id="i2"><list id="i3"/><none/></dictionary></marshal>`, "unhashable"},
		{"unknown reference", `<marshal><reference id="i9"/></marshal>`, "names no container"},
		{"cycle", `<marshal><list id="i2"><reference id="i2"/></list></marshal>`, "still open"},
		{"text in a container", `<marshal><list id="i2">hello</list></marshal>`, "outside a value"},
		{"element in a scalar", `<marshal><string><int>1</int></string></marshal>`, "inside <string>"},
		{"object without class", `<marshal><object id="i2" module="m"><tuple/><dictionary id="i3"/></object></marshal>`, "without module and class"},
		{"object without attributes", `<marshal><object id="i2" module="m" class="c"><tuple/></object></marshal>`, "tuple of arguments"},
		{"mismatched end", `<marshal><list id="i2"></tuple></marshal>`, ""},
		{"too deep", `<marshal>` + deep + `</marshal>`, "deeper than"},
		{"reference bomb", bomb.String(), "references expanded"},
		{"entity declaration", `<!DOCTYPE x [<!ENTITY a "b">]><marshal><none/></marshal>`, "directive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Unmarshal([]byte(tc.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q: want ErrSyntax mentioning %q", err, tc.want)
			}
		})
	}
}

func itoa(i int) string { return Int(int64(i)).mustText() }

func (v Value) mustText() string {
	s, err := v.Text()
	if err != nil {
		panic(err)
	}
	return s
}

func TestStringMapAndText(t *testing.T) {
	v := Dict(String("s"), String("x"), String("n"), Int(3), String("b"), Bool(true), String("f"), Float(0.5), String("z"), None())
	m, err := v.StringMap("parameters")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"s": "x", "n": "3", "b": "True", "f": "0.5", "z": "None"}
	for k, w := range want {
		if m[k] != w {
			t.Errorf("%s = %q, want %q", k, m[k], w)
		}
	}
	if _, err := Dict(String("l"), List()).StringMap("parameters"); err == nil || !strings.Contains(err.Error(), `"l" holds a list`) {
		t.Errorf("a list value: err %v", err)
	}
	if _, err := Dict(Int(1), String("x")).StringMap("parameters"); err == nil || !strings.Contains(err.Error(), "key #1 is a int") {
		t.Errorf("an int key: err %v", err)
	}
	if _, err := String("x").StringMap("parameters"); err == nil {
		t.Error("a str accepted as a dict")
	}
}
