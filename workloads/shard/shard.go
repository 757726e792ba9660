// Package shard splits independent work into deterministic, balanced
// slices, so that N machines (a Kubernetes Indexed Job, a Slurm job
// array) each do one and a merge puts the parts back together. A slice
// is named K/N, K from 1 to N, as runbench's -shard flag takes it.
//
// Partition balances by estimated cost with greedy
// longest-processing-time scheduling: the most expensive item first, each
// to the least loaded slice, ties to the lower slice and the earlier item.
// It depends on nothing but its arguments, so every shard computes the
// same assignment without talking to the others.
package shard

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Spec names slice K of N, K from 1. The zero Spec is the whole: no
// sharding.
type Spec struct {
	K, N int
}

// Whole reports whether s is the zero Spec, the work unsplit.
func (s Spec) Whole() bool { return s == Spec{} }

// String renders s as "K/N", or "" for the zero Spec.
func (s Spec) String() string {
	if s.Whole() {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.K, s.N)
}

// MaxShards is the most slices Parse accepts.
const MaxShards = 100000

// Parse parses "K/N": whole numbers with 1 <= K <= N <= MaxShards. The
// error quotes the text and says what is wrong.
func Parse(text string) (Spec, error) {
	ks, ns, ok := strings.Cut(strings.TrimSpace(text), "/")
	if !ok {
		return Spec{}, fmt.Errorf("%q: want K/N, the K-th of N shards, as 2/8", text)
	}
	k, kerr := strconv.Atoi(strings.TrimSpace(ks))
	n, nerr := strconv.Atoi(strings.TrimSpace(ns))
	switch {
	case kerr != nil || nerr != nil:
		return Spec{}, fmt.Errorf("%q: want K/N with K and N whole numbers, as 2/8", text)
	case n < 1 || n > MaxShards:
		return Spec{}, fmt.Errorf("%q: N is %d, want 1 to %d", text, n, MaxShards)
	case k < 1 || k > n:
		return Spec{}, fmt.Errorf("%q: K is %d, want 1 to N (%d): shards count from 1", text, k, n)
	}
	return Spec{K: k, N: n}, nil
}

// Validate reports what makes s unusable; the zero Spec is fine.
func (s Spec) Validate() error {
	if s.Whole() {
		return nil
	}
	if s.N < 1 || s.N > MaxShards || s.K < 1 || s.K > s.N {
		return fmt.Errorf("shard %d/%d: want 1 <= K <= N <= %d", s.K, s.N, MaxShards)
	}
	return nil
}

// Partition assigns each item, by its estimated cost, to one of n slices
// (0 to n-1) by greedy longest-processing-time: items in order of
// decreasing cost (ties: the earlier item first), each to the slice with
// the least cost so far (ties: the one with fewer items, then the lower
// slice), so items of equal cost are dealt round robin. It returns each
// item's slice. Costs must be finite and not negative; n at least 1.
func Partition(costs []float64, n int) ([]int, error) {
	if n < 1 {
		return nil, fmt.Errorf("partition into %d slices", n)
	}
	for i, c := range costs {
		if c < 0 || math.IsNaN(c) || math.IsInf(c, 0) {
			return nil, fmt.Errorf("item %d has cost %v, want a finite cost of 0 or more", i, c)
		}
	}
	order := make([]int, len(costs))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case costs[a] > costs[b]:
			return -1
		case costs[a] < costs[b]:
			return 1
		}
		return 0
	})
	load := make([]float64, n)
	count := make([]int, n)
	out := make([]int, len(costs))
	for _, i := range order {
		best := 0
		for s := 1; s < n; s++ {
			if load[s] < load[best] || (load[s] == load[best] && count[s] < count[best]) {
				best = s
			}
		}
		out[i] = best
		load[best] += costs[i]
		count[best]++
	}
	return out, nil
}

// Loads returns the cost each of n slices carries under assignment,
// Partition's result for costs.
func Loads(costs []float64, assignment []int, n int) []float64 {
	load := make([]float64, n)
	for i, s := range assignment {
		load[s] += costs[i]
	}
	return load
}
