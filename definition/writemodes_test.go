package definition

import "testing"

func TestBlank(t *testing.T) {
	for _, tc := range []struct {
		v     any
		blank bool
	}{
		{nil, true}, {"", true}, {" \t\n", true},
		{"x", false}, {" x ", false}, {0.0, false}, {false, false},
	} {
		if got := Blank(tc.v); got != tc.blank {
			t.Errorf("Blank(%#v) = %v, want %v", tc.v, got, tc.blank)
		}
		if got := (Field{}).Keeps(tc.v); got != tc.blank {
			t.Errorf("a field keeps %#v: %v, want %v (keep is the default)", tc.v, got, tc.blank)
		}
		if (Field{OnEmpty: Clear}).Keeps(tc.v) {
			t.Errorf("a field that clears keeps %#v", tc.v)
		}
	}
}

func TestWriteModes(t *testing.T) {
	s := Sync{Write: map[Side]WriteMode{A: UpdateOnly, B: CreateOnly}}
	if !s.Updates(A) || s.Creates(A) || s.Updates(B) || !s.Creates(B) {
		t.Errorf("a update-only and b create-only: a creates %v updates %v, b creates %v updates %v", s.Creates(A), s.Updates(A), s.Creates(B), s.Updates(B))
	}
	if s.Withheld(A, false) != "" || s.Withheld(B, true) != "" {
		t.Error("a write the modes allow is withheld")
	}
	if s.Withheld(A, true) == "" || s.Withheld(B, false) == "" {
		t.Error("a write the modes refuse is not withheld")
	}
	var upsert Sync
	if !upsert.Creates(A) || !upsert.Updates(B) {
		t.Error("a sync without write modes does not upsert")
	}
}
