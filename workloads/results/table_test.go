package results

import "testing"

func TestHuman(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{{0, "0"}, {0.5, "0.5"}, {12.34, "12.3"}, {999, "999"}, {37714, "37.7k"}, {530041, "530k"}, {1.234e6, "1.23M"}}
	for _, tt := range tests {
		if got := Human(tt.in); got != tt.want {
			t.Errorf("Human(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
