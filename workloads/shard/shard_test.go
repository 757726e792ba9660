package shard

import (
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want Spec
		err  string
	}{
		{"1/1", Spec{1, 1}, ""},
		{"2/3", Spec{2, 3}, ""},
		{" 3/3 ", Spec{3, 3}, ""},
		{"0/3", Spec{}, "K is 0, want 1 to N (3): shards count from 1"},
		{"4/3", Spec{}, "K is 4, want 1 to N (3)"},
		{"1/0", Spec{}, "N is 0, want 1 to"},
		{"-1/3", Spec{}, "K is -1"},
		{"x/y", Spec{}, "want K/N with K and N whole numbers"},
		{"3", Spec{}, "want K/N, the K-th of N shards"},
		{"", Spec{}, "want K/N"},
		{"1/3/4", Spec{}, "whole numbers"},
		{"1/1000000", Spec{}, "N is 1000000, want 1 to 100000"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Parse(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if got.String() != strings.TrimSpace(tt.in) || got.Validate() != nil {
				t.Errorf("%v renders %q, validates %v", got, got.String(), got.Validate())
			}
		})
	}
	if !(Spec{}).Whole() || (Spec{}).String() != "" || (Spec{}).Validate() != nil {
		t.Error("the zero Spec is not the whole")
	}
}

func TestPartition(t *testing.T) {
	tests := []struct {
		name  string
		costs []float64
		n     int
		want  []int
	}{
		{"one slice", []float64{3, 1, 2}, 1, []int{0, 0, 0}},
		{"equal costs deal round robin", []float64{1, 1, 1, 1, 1}, 2, []int{0, 1, 0, 1, 0}},
		{"largest first", []float64{1, 5, 2, 4}, 2, []int{0, 0, 1, 1}},
		{"more slices than items", []float64{2, 1}, 4, []int{0, 1}},
		{"zero costs", []float64{0, 0, 0}, 2, []int{0, 1, 0}},
		{"no items", nil, 3, []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Partition(tt.costs, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Partition(%v, %d) = %v, want %v", tt.costs, tt.n, got, tt.want)
			}
		})
	}
	for _, bad := range [][]float64{{-1}, {1, 2, nan()}} {
		if _, err := Partition(bad, 2); err == nil {
			t.Errorf("Partition(%v) accepted", bad)
		}
	}
	if _, err := Partition([]float64{1}, 0); err == nil {
		t.Error("Partition into 0 slices accepted")
	}
}

// TestPartitionBalance checks LPT's guarantee on many items: no slice
// carries more than 4/3 of the optimum, which is at least the mean and
// at least the largest item.
func TestPartitionBalance(t *testing.T) {
	var costs []float64
	x := uint32(1)
	for range 500 {
		x = x*1664525 + 1013904223
		costs = append(costs, float64(x>>20)+1)
	}
	for _, n := range []int{2, 3, 7, 16} {
		a, err := Partition(costs, n)
		if err != nil {
			t.Fatal(err)
		}
		loads := Loads(costs, a, n)
		var sum float64
		for _, c := range costs {
			sum += c
		}
		bound := max(sum/float64(n), slices.Max(costs)) * 4 / 3
		if m := slices.Max(loads); m > bound {
			t.Errorf("n=%d: largest load %.0f beyond 4/3 of the bound (%.0f)", n, m, bound)
		}
	}
}

func nan() float64 {
	z := 0.0
	return z / z
}
