// crashfs mounts a directory through FUSE and keeps every byte written to a file in memory
// until that file is fsync'd (or was opened O_SYNC/O_DSYNC); only then does it reach the
// backing directory. Stopping it (SIGTERM or SIGINT) is a power cut: whatever was not synced
// is dropped, the mount goes away, and mounting the same backing directory again shows what a
// disk would hold after the machine came back.
//
// Like LazyFS, which Jepsen uses, it models the loss of file data, not of directory entries:
// creating, renaming, unlinking and truncating reach the backing directory at once.
//
// Usage: crashfs BACKING_DIR MOUNTPOINT  (as root: it mounts with mount(2), no fusermount)
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

const pageSize = 4096

// fileKey names a backing inode: every handle and every path of one file share its pages.
type fileKey struct{ dev, ino uint64 }

// pending is what a file holds beyond its backing file: pages written since the last sync
// and the size the file has to its readers.
type pending struct {
	size  int64
	pages map[int64][]byte // page number → the page as readers see it
	fd    int              // a writable descriptor of the backing file, for the sync
}

type state struct {
	mu    sync.Mutex
	files map[fileKey]*pending
	syncs int
	cut   bool // the power is off: nothing reaches the backing directory any more
}

var st = state{files: map[fileKey]*pending{}}

func keyOf(s *syscall.Stat_t) fileKey { return fileKey{uint64(s.Dev), s.Ino} }

// backingPage reads page `n` of the backing file (zeros past its end).
func backingPage(fd int, n int64) []byte {
	page := make([]byte, pageSize)
	for got := 0; got < pageSize; {
		r, err := syscall.Pread(fd, page[got:], n*pageSize+int64(got))
		if err == syscall.EINTR {
			continue
		}
		if err != nil || r == 0 {
			break
		}
		got += r
	}
	return page
}

// sync writes a file's pending pages and size to the backing file and fsyncs it.
func (p *pending) sync() syscall.Errno {
	for n, page := range p.pages {
		end := p.size - n*pageSize
		if end <= 0 {
			continue
		}
		if end > pageSize {
			end = pageSize
		}
		if _, err := syscall.Pwrite(p.fd, page[:end], n*pageSize); err != nil {
			return fs.ToErrno(err)
		}
	}
	if err := syscall.Ftruncate(p.fd, p.size); err != nil {
		return fs.ToErrno(err)
	}
	return fs.ToErrno(syscall.Fsync(p.fd))
}

// syncLocked makes `k` durable and forgets its pending state. st.mu is held.
func syncLocked(k fileKey) syscall.Errno {
	if st.cut {
		return syscall.EIO
	}
	st.syncs++
	p := st.files[k]
	if p == nil {
		return 0
	}
	errno := p.sync()
	syscall.Close(p.fd)
	delete(st.files, k)
	return errno
}

// forgetLocked drops the pending state of a file that no longer exists. st.mu is held.
func forgetLocked(path string) {
	var s syscall.Stat_t
	if syscall.Lstat(path, &s) == nil && s.Nlink <= 1 {
		if p := st.files[keyOf(&s)]; p != nil {
			syscall.Close(p.fd)
			delete(st.files, keyOf(&s))
		}
	}
}

type node struct {
	fs.LoopbackNode
}

func (n *node) backingPath() string {
	return filepath.Join(n.RootData.Path, n.Path(n.Root()))
}

var _ = (fs.NodeOpener)((*node)(nil))

func (n *node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return openFile(n.backingPath(), flags&^(syscall.O_CREAT|syscall.O_EXCL))
}

var _ = (fs.NodeCreater)((*node)(nil))

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	inode, fh, _, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	fh.(fs.FileReleaser).Release(ctx)
	f, fuseFlags, errno := openFile(filepath.Join(n.backingPath(), name), flags&^(syscall.O_CREAT|syscall.O_EXCL|syscall.O_TRUNC))
	return inode, f, fuseFlags, errno
}

var _ = (fs.NodeGetattrer)((*node)(nil))

func (n *node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if ff, ok := f.(*file); ok {
		return ff.Getattr(ctx, out) // an unlinked file is still open
	}
	var s syscall.Stat_t
	if err := syscall.Lstat(n.backingPath(), &s); err != nil {
		return fs.ToErrno(err)
	}
	out.FromStat(&s)
	st.mu.Lock()
	if p := st.files[keyOf(&s)]; p != nil {
		out.Size = uint64(p.size)
	}
	st.mu.Unlock()
	return 0
}

var _ = (fs.NodeSetattrer)((*node)(nil))

// Setattr passes through; a new size also cuts or extends the pending pages.
func (n *node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if size, ok := in.GetSize(); ok {
		var s syscall.Stat_t
		if err := syscall.Lstat(n.backingPath(), &s); err != nil {
			return fs.ToErrno(err)
		}
		st.mu.Lock()
		if p := st.files[keyOf(&s)]; p != nil {
			p.size = int64(size)
			for pn, page := range p.pages {
				switch start := pn * pageSize; {
				case start >= p.size:
					delete(p.pages, pn)
				case start+pageSize > p.size:
					clear(page[p.size-start:])
				}
			}
		}
		st.mu.Unlock()
	}
	if errno := n.LoopbackNode.Setattr(ctx, nil, in, out); errno != 0 {
		return errno
	}
	return n.Getattr(ctx, f, out)
}

var _ = (fs.NodeUnlinker)((*node)(nil))

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	st.mu.Lock()
	forgetLocked(filepath.Join(n.backingPath(), name))
	st.mu.Unlock()
	return n.LoopbackNode.Unlink(ctx, name)
}

var _ = (fs.NodeRenamer)((*node)(nil))

func (n *node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	if p, ok := newParent.(*node); ok && flags == 0 {
		st.mu.Lock()
		forgetLocked(filepath.Join(p.backingPath(), newName)) // the file it replaces
		st.mu.Unlock()
	}
	return n.LoopbackNode.Rename(ctx, name, newParent, newName, flags)
}

var _ = (fs.NodeCopyFileRanger)((*node)(nil))

// CopyFileRange would copy on the backing files and skip the pending pages.
func (n *node) CopyFileRange(ctx context.Context, fhIn fs.FileHandle, offIn uint64, out *fs.Inode, fhOut fs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOSYS
}

// file is an open handle: reads see the pending pages, writes go to them.
type file struct {
	fs.FileHandle // the loopback handle over fd, for flush, release and locks
	fd            int
	key           fileKey
	syncWrites    bool
}

func openFile(path string, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	flags &^= syscall.O_APPEND | fuse.FMODE_EXEC // the kernel sends every write's offset
	fd, err := syscall.Open(path, int(flags)&^(syscall.O_SYNC|syscall.O_DSYNC), 0)
	if err != nil {
		return nil, 0, fs.ToErrno(err)
	}
	var s syscall.Stat_t
	if err := syscall.Fstat(fd, &s); err != nil {
		syscall.Close(fd)
		return nil, 0, fs.ToErrno(err)
	}
	return &file{
		FileHandle: fs.NewLoopbackFile(fd),
		fd:         fd,
		key:        keyOf(&s),
		syncWrites: flags&(syscall.O_SYNC|syscall.O_DSYNC) != 0,
	}, 0, 0
}

var _ = (fs.FileReader)((*file)(nil))

func (f *file) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	st.mu.Lock()
	defer st.mu.Unlock()
	p := st.files[f.key]
	if p == nil {
		n, err := syscall.Pread(f.fd, buf, off)
		if err != nil {
			return nil, fs.ToErrno(err)
		}
		return fuse.ReadResultData(buf[:n]), 0
	}
	if off >= p.size {
		return fuse.ReadResultData(nil), 0
	}
	end := min(off+int64(len(buf)), p.size)
	for pos := off; pos < end; {
		pn := pos / pageSize
		page, ok := p.pages[pn]
		if !ok {
			page = backingPage(f.fd, pn)
		}
		pos += int64(copy(buf[pos-off:end-off], page[pos-pn*pageSize:]))
	}
	return fuse.ReadResultData(buf[:end-off]), 0
}

var _ = (fs.FileWriter)((*file)(nil))

func (f *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.cut {
		return 0, syscall.EIO
	}
	p := st.files[f.key]
	if p == nil {
		var s syscall.Stat_t
		if err := syscall.Fstat(f.fd, &s); err != nil {
			return 0, fs.ToErrno(err)
		}
		fd, err := syscall.Dup(f.fd)
		if err != nil {
			return 0, fs.ToErrno(err)
		}
		p = &pending{size: s.Size, pages: map[int64][]byte{}, fd: fd}
		st.files[f.key] = p
	}
	for pos := off; pos < off+int64(len(data)); {
		pn := pos / pageSize
		page, ok := p.pages[pn]
		if !ok {
			page = backingPage(f.fd, pn)
			if end := p.size - pn*pageSize; end < pageSize {
				clear(page[max(end, 0):]) // past the file's size, not what the backing holds
			}
			p.pages[pn] = page
		}
		pos += int64(copy(page[pos-pn*pageSize:], data[pos-off:]))
	}
	p.size = max(p.size, off+int64(len(data)))
	if f.syncWrites {
		if errno := syncLocked(f.key); errno != 0 {
			return 0, errno
		}
	}
	return uint32(len(data)), 0
}

var _ = (fs.FileFsyncer)((*file)(nil))

func (f *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	st.mu.Lock()
	defer st.mu.Unlock()
	return syncLocked(f.key)
}

var _ = (fs.FileGetattrer)((*file)(nil))

func (f *file) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	var s syscall.Stat_t
	if err := syscall.Fstat(f.fd, &s); err != nil {
		return fs.ToErrno(err)
	}
	out.FromStat(&s)
	st.mu.Lock()
	if p := st.files[f.key]; p != nil {
		out.Size = uint64(p.size)
	}
	st.mu.Unlock()
	return 0
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: crashfs BACKING_DIR MOUNTPOINT")
		os.Exit(2)
	}
	backing, mountpoint := os.Args[1], os.Args[2]
	var s syscall.Stat_t
	if err := syscall.Stat(backing, &s); err != nil {
		fmt.Fprintf(os.Stderr, "crashfs: cannot use %s: %v\n", backing, err)
		os.Exit(2)
	}
	root := &fs.LoopbackRoot{Path: backing, Dev: uint64(s.Dev)}
	root.NewNode = func(r *fs.LoopbackRoot, _ *fs.Inode, _ string, _ *syscall.Stat_t) fs.InodeEmbedder {
		return &node{fs.LoopbackNode{RootData: r}}
	}
	rootNode := &node{fs.LoopbackNode{RootData: root}}
	root.RootNode = rootNode
	zero := time.Duration(0)
	server, err := fs.Mount(mountpoint, rootNode, &fs.Options{
		EntryTimeout: &zero,
		AttrTimeout:  &zero,
		MountOptions: fuse.MountOptions{
			FsName:            "crashfs",
			Name:              "crashfs",
			DirectMountStrict: true,
			AllowOther:        true,
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "crashfs: cannot mount %s: %v\n", mountpoint, err)
		os.Exit(1)
	}
	fmt.Printf("crashfs: %s mounted over %s\n", mountpoint, backing)

	cut := make(chan os.Signal, 1)
	signal.Notify(cut, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-cut
		st.mu.Lock()
		st.cut = true
		files, bytes := len(st.files), 0
		for k, p := range st.files {
			bytes += len(p.pages) * pageSize
			syscall.Close(p.fd)
			delete(st.files, k)
		}
		st.mu.Unlock()
		fmt.Printf("crashfs: power cut after %d syncs: dropped %d unsynced pages (%d bytes) of %d files\n",
			st.syncs, bytes/pageSize, bytes, files)
		for i := 0; i < 50; i++ {
			if err := server.Unmount(); err == nil {
				os.Exit(0)
			}
			time.Sleep(100 * time.Millisecond)
		}
		fmt.Fprintf(os.Stderr, "crashfs: %s is busy; left for 'umount -l'\n", mountpoint)
		os.Exit(1)
	}()
	server.Wait()
}
