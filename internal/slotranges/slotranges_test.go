package slotranges

import (
	"reflect"
	"testing"
)

func TestOf(t *testing.T) {
	for _, tc := range []struct {
		vals []int16
		want []Range[int16]
	}{
		{nil, nil},
		{[]int16{0}, []Range[int16]{{0, 0, 0}}},
		{[]int16{0, 0, 1, 1, 1, -1, 0}, []Range[int16]{{0, 1, 0}, {2, 4, 1}, {5, 5, -1}, {6, 6, 0}}},
		{[]int16{2, 2, 2}, []Range[int16]{{0, 2, 2}}},
	} {
		if got := Of(tc.vals); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Of(%v) = %v, want %v", tc.vals, got, tc.want)
		}
	}
	if got := Of([]string{"a", "a", "", "b"}); !reflect.DeepEqual(got, []Range[string]{{0, 1, "a"}, {2, 2, ""}, {3, 3, "b"}}) {
		t.Errorf("Of(strings) = %v", got)
	}
}

func TestCollapse(t *testing.T) {
	if got := Collapse([]int{1, 2, 3, 5, 7, 8}); !reflect.DeepEqual(got, [][2]int{{1, 3}, {5, 5}, {7, 8}}) {
		t.Errorf("Collapse = %v", got)
	}
	if got := Collapse(nil); got != nil {
		t.Errorf("Collapse(nil) = %v", got)
	}
}
