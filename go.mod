module github.com/qedharness/qedharness

go 1.26
