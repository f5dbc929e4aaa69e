package xmlm

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Kind is the Python type of a Value.
type Kind uint8

// Kinds of values.
const (
	KindNone Kind = iota
	KindBool
	KindInt
	KindFloat
	KindString
	KindTuple
	KindList
	KindDict
	KindSet
	KindObject
)

var kindNames = [...]string{"None", "bool", "int", "float", "str", "tuple", "list", "dict", "set", "object"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one Python value. The zero Value is None.
//
//   - KindBool: Bool; KindInt: Int; KindFloat: Float; KindString: Str.
//   - KindTuple, KindList, KindSet: Items.
//   - KindDict: Items holds keys and values alternately.
//   - KindObject: Module, Class; Items holds two values: the tuple of
//     constructor arguments and the dictionary of attributes.
//
// NB: values decoded from references share their Items with the value
// referenced: treat decoded values as read only.
type Value struct {
	Kind   Kind
	Bool   bool
	Int    int64
	Float  float64
	Str    string
	Items  []Value
	Module string
	Class  string
}

// None is Python's None.
func None() Value { return Value{} }

// Bool is a Python bool.
func Bool(b bool) Value { return Value{Kind: KindBool, Bool: b} }

// Int is a Python int.
func Int(n int64) Value { return Value{Kind: KindInt, Int: n} }

// Float is a Python float.
func Float(f float64) Value { return Value{Kind: KindFloat, Float: f} }

// String is a Python str.
func String(s string) Value { return Value{Kind: KindString, Str: s} }

// Tuple is a Python tuple.
func Tuple(items ...Value) Value { return Value{Kind: KindTuple, Items: items} }

// List is a Python list.
func List(items ...Value) Value { return Value{Kind: KindList, Items: items} }

// Dict is a Python dict of the given keys and values, alternating, in
// that order.
func Dict(kv ...Value) Value {
	if len(kv)%2 != 0 {
		panic("xmlm: Dict needs keys and values in pairs")
	}
	return Value{Kind: KindDict, Items: kv}
}

// StringDict is a dict of strings with its keys sorted (as xml_marshaller
// writes a dict).
func StringDict(m map[string]string) Value {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	kv := make([]Value, 0, 2*len(keys))
	for _, k := range keys {
		kv = append(kv, String(k), String(m[k]))
	}
	return Value{Kind: KindDict, Items: kv}
}

// Object is the pickle of an instance of module.class: its constructor
// arguments and its attributes (a dict).
func Object(module, class string, args []Value, attrs Value) Value {
	return Value{Kind: KindObject, Module: module, Class: class, Items: []Value{Tuple(args...), attrs}}
}

// Len is the number of items of a container (pairs for a dict).
func (v Value) Len() int {
	if v.Kind == KindDict {
		return len(v.Items) / 2
	}
	return len(v.Items)
}

// Get returns the value of a string key of a dict (or of an object's
// attributes).
func (v Value) Get(key string) (Value, bool) {
	if v.Kind == KindObject && len(v.Items) == 2 {
		v = v.Items[1]
	}
	if v.Kind != KindDict {
		return Value{}, false
	}
	for i := 0; i+1 < len(v.Items); i += 2 {
		if k := v.Items[i]; k.Kind == KindString && k.Str == key {
			return v.Items[i+1], true
		}
	}
	return Value{}, false
}

// Text is the value as Python's str() writes it for a scalar (what
// SlapOS's dict2xml stores): a string as is, None as "None", a bool as
// "True"/"False", numbers in Python's notation. Containers are refused.
func (v Value) Text() (string, error) {
	switch v.Kind {
	case KindString:
		return v.Str, nil
	case KindNone:
		return "None", nil
	case KindBool:
		if v.Bool {
			return "True", nil
		}
		return "False", nil
	case KindInt:
		return strconv.FormatInt(v.Int, 10), nil
	case KindFloat:
		return FormatFloat(v.Float), nil
	}
	return "", fmt.Errorf("xmlm: a %s is not a scalar", v.Kind)
}

// StringMap reads a dict whose keys are strings and whose values are
// scalars (see Text) into a map. what names the value in errors.
func (v Value) StringMap(what string) (map[string]string, error) {
	if v.Kind != KindDict {
		return nil, fmt.Errorf("%s is a %s: expected a dict", what, v.Kind)
	}
	m := make(map[string]string, v.Len())
	for i := 0; i+1 < len(v.Items); i += 2 {
		k := v.Items[i]
		if k.Kind != KindString {
			return nil, fmt.Errorf("%s: key #%d is a %s: expected a str", what, i/2+1, k.Kind)
		}
		s, err := v.Items[i+1].Text()
		if err != nil {
			return nil, fmt.Errorf("%s: key %q holds a %s: expected a str (or a number, a bool, None)", what, k.Str, v.Items[i+1].Kind)
		}
		m[k.Str] = s
	}
	return m, nil
}

// FormatFloat writes a float as Python's repr does: "1.0", "1e+16",
// "1e-05", "inf", "nan".
func FormatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	exp := int(math.Floor(math.Log10(math.Abs(f))))
	// Log10 may be off by one near powers of ten: ask strconv.
	e := strconv.FormatFloat(f, 'e', -1, 64)
	if i := strings.LastIndexByte(e, 'e'); i >= 0 {
		if n, err := strconv.Atoi(e[i+1:]); err == nil {
			exp = n
		}
	}
	if exp < -4 || exp >= 16 {
		mant, ex, _ := strings.Cut(e, "e")
		sign := ex[0]
		digits := strings.TrimLeft(ex[1:], "0")
		if len(digits) < 2 {
			digits = strings.Repeat("0", 2-len(digits)) + digits
		}
		return mant + "e" + string(sign) + digits
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// hashable reports whether a value may be a dict key or a set member.
func hashable(v Value) bool {
	switch v.Kind {
	case KindList, KindDict, KindSet, KindObject:
		return false
	case KindTuple:
		for _, it := range v.Items {
			if !hashable(it) {
				return false
			}
		}
	}
	return true
}

// keyOf is a canonical text of a hashable value under Python's key
// equality (True == 1 == 1.0); ok is false for a NaN, which equals no other
// key.
func keyOf(v Value) (key string, ok bool) {
	switch v.Kind {
	case KindNone:
		return "N", true
	case KindBool:
		if v.Bool {
			return "i1", true
		}
		return "i0", true
	case KindInt:
		return "i" + strconv.FormatInt(v.Int, 10), true
	case KindFloat:
		f := v.Float
		if math.IsNaN(f) {
			return "", false
		}
		if f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			return "i" + strconv.FormatInt(int64(f), 10), true
		}
		return "f" + strconv.FormatUint(math.Float64bits(f), 16), true
	case KindString:
		return "s" + strconv.Itoa(len(v.Str)) + ":" + v.Str, true
	case KindTuple:
		var b strings.Builder
		b.WriteString("t" + strconv.Itoa(len(v.Items)) + "(")
		for _, it := range v.Items {
			k, ok := keyOf(it)
			if !ok {
				return "", false
			}
			b.WriteString(strconv.Itoa(len(k)) + ":" + k)
		}
		return b.String(), true
	}
	return "", false
}
