module stratos.example/compute

// The standard library only: `make examples` builds offline (GOPROXY=off, GOTOOLCHAIN=local).
go 1.22
