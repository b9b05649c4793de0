/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * vfio_user - internal interfaces shared by the driver's source files.
 *
 * Object model and lifetime (see Documentation/vfio-user/design.rst):
 *
 *   struct vfio_user_dev   one per bound server; a device on the vfio-user
 *                          bus (vfio-userN), owns the connection.  Made by
 *                          new_device, or by an mdev's socket_path (mdev.c),
 *                          which then owns it and is its parent.
 *   struct vfio_user_conn  the socket, its receive worker, the table of
 *                          requests waiting for replies.
 *   struct vfio_user_vdev  the emulated-IOMMU vfio_device registered by the
 *                          bus driver's probe; its parent is vfio_user_dev,
 *                          or the owning mdev (where VMMs look for it).
 *
 * Teardown order (del_device, mdev remove, module exit):
 *   0. module exit only: binds under way are broken and waited for, then
 *      every mdev is removed (each removing its device as below), then
 *      the bus's own devices;
 *   1. the device leaves the bus list (no new lookups by name);
 *   2. device_unregister() -> driver remove -> vfio_unregister_group_dev(),
 *      which waits for the VMM to close the device (REQ interrupt asks it);
 *   3. vfio_user_conn_destroy(): mark closed, shut the socket down, restore
 *      the socket callbacks, stop the workers, fail everything pending,
 *      release the socket, destroy the workqueue;
 *   4. the last put_device() frees vfio_user_dev.
 */
#ifndef VFIO_USER_PRIV_H
#define VFIO_USER_PRIV_H

#include <linux/completion.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/rwsem.h>
#include <linux/socket.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <linux/un.h>
#include <linux/vfio.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <linux/vfio_user.h>

#define VFIO_USER_DRV_NAME		"vfio-user"

/* Per-device request timeout: default like QEMU's client, and its bounds. */
#define VFIO_USER_DEFAULT_TIMEOUT_MS	5000
#define VFIO_USER_MIN_TIMEOUT_MS	10
#define VFIO_USER_MAX_TIMEOUT_MS	600000

/*
 * Largest data transfer the driver ever accepts, whatever the server says:
 * the same cap as QEMU's client.  What we offer in VERSION is the default.
 */
#define VFIO_USER_MAX_DATA_XFER_CAP	(64U * 1024 * 1024)
#define VFIO_USER_OUR_MAX_DATA_XFER	VFIO_USER_DEFAULT_MAX_DATA_XFER
/* Largest payload that is not a data transfer (VERSION JSON, region info). */
#define VFIO_USER_MAX_CTRL_PAYLOAD	(64U * 1024)
/* Most file descriptors we accept from the server in one message. */
#define VFIO_USER_OUR_MAX_MSG_FDS	8
/* Server-to-client requests queued before the receive worker stops reading. */
#define VFIO_USER_MAX_SERVER_REQS	16
/* Defensive bounds on what DEVICE_GET_INFO may claim (as QEMU's client). */
#define VFIO_USER_MAX_REGIONS		100
#define VFIO_USER_MAX_IRQS		50

/**
 * enum vfio_user_conn_state - life of a connection
 * @VFIO_USER_CONN_CONNECTED: requests may be sent
 * @VFIO_USER_CONN_BROKEN: a protocol error, timeout or server exit was seen;
 *	every pending and later request fails, the device stays until deleted
 * @VFIO_USER_CONN_CLOSED: being torn down by the driver
 */
enum vfio_user_conn_state {
	VFIO_USER_CONN_CONNECTED,
	VFIO_USER_CONN_BROKEN,
	VFIO_USER_CONN_CLOSED,
};

/**
 * enum vfio_user_rx_state - where the receiver is in the current frame
 * @VFIO_USER_RX_HEADER: assembling the header
 * @VFIO_USER_RX_PAYLOAD: the payload into its destination
 * @VFIO_USER_RX_DISCARD: the payload read and dropped
 */
enum vfio_user_rx_state {
	VFIO_USER_RX_HEADER,
	VFIO_USER_RX_PAYLOAD,
	VFIO_USER_RX_DISCARD,
};

/**
 * struct vfio_user_caps - capabilities negotiated in VERSION
 * @major: protocol major version (always 0)
 * @minor: protocol minor version the server accepted
 * @max_msg_fds: most fds the server takes in one message
 * @max_data_xfer_size: largest data count the server takes in one message
 * @pgsizes: DMA page sizes the server supports
 * @max_dma_maps: most DMA regions the server takes
 * @migration: the server listed a migration capability
 * @twin_socket: the server offered a second socket (never, we don't ask)
 * @write_multiple: the server takes REGION_WRITE_MULTI
 */
struct vfio_user_caps {
	u16 major;
	u16 minor;
	u32 max_msg_fds;
	u32 max_data_xfer_size;
	u64 pgsizes;
	u32 max_dma_maps;
	bool migration;
	bool twin_socket;
	bool write_multiple;
};

/**
 * struct vfio_user_stats - counters shown in debugfs
 * @msgs_sent: frames sent (commands and replies to the server)
 * @msgs_received: frames received
 * @bytes_sent: bytes sent, headers included
 * @bytes_received: bytes received, headers included
 * @errors: error replies and failed sends seen
 * @timeouts: requests that timed out
 * @server_reqs: requests the server sent us
 * @server_reqs_refused: of those, refused with EBUSY (too many queued)
 * @max_rtt_ns: worst round-trip time of a request
 *
 * Updated with the plain atomic64 helpers; no lock.
 */
struct vfio_user_stats {
	atomic64_t msgs_sent;
	atomic64_t msgs_received;
	atomic64_t bytes_sent;
	atomic64_t bytes_received;
	atomic64_t errors;
	atomic64_t timeouts;
	atomic64_t server_reqs;
	atomic64_t server_reqs_refused;
	atomic64_t max_rtt_ns;
};

struct vfio_user_msg;
struct vfio_user_server_req;

/**
 * struct vfio_user_conn - one vfio-user connection
 * @sock: the connected AF_UNIX stream socket
 * @wq: this connection's unbound workqueue (receive and server requests)
 * @rx_work: drains the socket; queued from the socket callbacks
 * @req_work: serves the server's own requests, never from the callbacks
 * @tx_lock: held across a whole frame so frames never interleave
 * @rx_lock: owner of the rx_* receive state: the receive worker, or a
 *	caller receiving its own reply (vfio_user_direct_rx())
 * @rx_copy_lock: held while bytes go into a caller's reply buffer, so that
 *	a killed caller can take its buffer back without waiting for the
 *	rest of a stalled reply
 * @direct_rx: a caller holds @rx_lock and waits on @rx_wait; the socket
 *	callbacks wake it instead of queueing the worker
 * @rx_wait: where a direct receiver waits for the socket
 * @send_wait: where a receiver waits for a request's sender (see
 *	transport.c: a reply is taken only once its request was sent)
 * @lock: protects @state, @reason, @reqs, @nr_reqs and the refusal ring
 * @state: enum vfio_user_conn_state
 * @reason: why the connection broke, for sysfs and dmesg
 * @pending: msg_id -> struct vfio_user_msg waiting for its reply
 * @next_id: cyclic id allocator hint for @pending
 * @noreply_id: ids of requests sent without wanting a reply
 * @reqs: server requests received and not yet served
 * @nr_reqs: length of @reqs, bounded by VFIO_USER_MAX_SERVER_REQS
 * @refusals: ring of error replies to server requests refused (rx.c)
 * @refusals_head: its first entry
 * @nr_refusals: its entries
 * @rx_state: enum vfio_user_rx_state of the frame being received
 * @rx_hdr: header of the frame being received
 * @rx_hdr_len: bytes of @rx_hdr received so far
 * @rx_len: payload bytes of the current frame still to receive
 * @rx_off: payload bytes of the current frame received
 * @rx_msg: the request whose reply is being received, owned by rx_work
 * @rx_req: the server request being received, owned by rx_work
 * @rx_buf: the staging buffer, one page
 * @rx_buf_len: bytes in it
 * @rx_buf_off: bytes of it consumed
 * @max_rx_payload: largest payload accepted before the frame is read
 * @started: the receive worker owns the socket (vfio_user_conn_start())
 * @timeout_ms: bound on every wait for the server
 * @bind_deadline: jiffies by which the whole bind handshake must be done
 * @sync_ctl: control buffer (in the bind writer's borrowed mm) of the
 *	handshake's work item, 0 when files cannot be received
 * @caps: what VERSION negotiated
 * @stats: counters
 * @saved_data_ready: the socket's callback before we installed ours
 * @saved_state_change: likewise
 * @serve: serves one server request (DMA_READ/DMA_WRITE, sizes checked)
 *	from the request worker and answers it with vfio_user_conn_reply()
 * @broken_notify: called once, without locks, when the connection breaks
 * @owner: opaque pointer for @broken_notify
 * @name: device name, for messages
 *
 * Locking: @lock is a spinlock taken from the socket callbacks' work items
 * and from callers; nothing sleeps under it.  @tx_lock is a mutex and may
 * be held while the socket send blocks (bounded by the socket's send
 * timeout).  @tx_lock nests outside @lock.  The rx_* fields are owned by
 * whoever holds @rx_lock (and by the teardown once nothing can run).
 */
struct vfio_user_conn {
	struct socket *sock;
	struct workqueue_struct *wq;
	struct work_struct rx_work;
	struct work_struct req_work;
	/* serialises whole frames on the socket */
	struct mutex tx_lock;
	/* the receive state's owner; a direct receiver waits on the socket with it */
	struct mutex rx_lock;
	/* the reply buffer being written, against a killed caller */
	struct mutex rx_copy_lock;
	bool direct_rx;
	wait_queue_head_t rx_wait;
	wait_queue_head_t send_wait;
	/* protects state, reason, reqs, nr_reqs and the refusal ring */
	spinlock_t lock;
	enum vfio_user_conn_state state;
	char reason[160];
	struct xarray pending;
	u32 next_id;
	atomic_t noreply_id;
	struct list_head reqs;
	unsigned int nr_reqs;
	struct vfio_user_header *refusals;
	unsigned int refusals_head;
	unsigned int nr_refusals;

	enum vfio_user_rx_state rx_state;
	struct vfio_user_header rx_hdr;
	size_t rx_hdr_len;
	size_t rx_len;
	size_t rx_off;
	struct vfio_user_msg *rx_msg;
	struct vfio_user_server_req *rx_req;
	u8 *rx_buf;
	size_t rx_buf_len;
	size_t rx_buf_off;
	size_t max_rx_payload;

	bool started;
	unsigned int timeout_ms;
	unsigned long bind_deadline;
	unsigned long sync_ctl;
	struct vfio_user_caps caps;
	struct vfio_user_stats stats;

	void (*saved_data_ready)(struct sock *sk);
	void (*saved_state_change)(struct sock *sk);
	void (*serve)(void *owner, const struct vfio_user_header *hdr,
		      const void *payload, size_t len);
	void (*broken_notify)(void *owner);
	void *owner;
	const char *name;
};

/**
 * struct vfio_user_region - one region as the server described it at bind
 * @flags: VFIO_REGION_INFO_FLAG_READ/WRITE/MMAP; MMAP only with @file
 * @size: size in bytes, below 1 << VFIO_PCI_OFFSET_SHIFT
 * @file: the server's file backing the region, for mmap; or NULL
 * @file_offset: where the region starts in @file, page-aligned
 * @nr_areas: number of @areas; 0 when the whole region may be mapped
 * @areas: the sparse-mmap areas, validated against @size
 * @has_type: the server gave a TYPE capability
 * @type: its type
 * @subtype: its subtype
 * @msix_mappable: the server gave the MSIX_MAPPABLE capability
 */
struct vfio_user_region {
	u32 flags;
	u64 size;
	struct file *file;
	u64 file_offset;
	u32 nr_areas;
	struct vfio_region_sparse_mmap_area *areas;
	bool has_type;
	u32 type;
	u32 subtype;
	bool msix_mappable;
};

/**
 * struct vfio_user_irq - one IRQ index as the server described it
 * @flags: VFIO_IRQ_INFO_*
 * @count: number of vectors
 */
struct vfio_user_irq {
	u32 flags;
	u32 count;
};

/* The IOVA window announced to the server by default: the first TiB. */
#define VFIO_USER_DMA_DEFAULT_WINDOW	BIT_ULL(40)

/**
 * enum vfio_user_dma_mode - how the server reaches the VMM's memory
 * @VFIO_USER_DMA_ZERO_COPY: DMA_MAP with a file the server mmaps, whose
 *	pages are the VMM's, pinned on fault (falls back to message mode
 *	when the server refuses the fd)
 * @VFIO_USER_DMA_MESSAGE: DMA_MAP without fd; DMA_READ/DMA_WRITE messages
 */
enum vfio_user_dma_mode {
	VFIO_USER_DMA_ZERO_COPY,
	VFIO_USER_DMA_MESSAGE,
};

/**
 * struct vfio_user_dma_stats - DMA counters shown in debugfs
 * @bytes_read: bytes served to DMA_READ
 * @bytes_written: bytes written by DMA_WRITE
 * @errors: DMA requests refused
 * @faults: zero-copy faults taken
 * @pinned: pages pinned for the server right now
 */
struct vfio_user_dma_stats {
	atomic64_t bytes_read;
	atomic64_t bytes_written;
	atomic64_t errors;
	atomic64_t faults;
	atomic64_t pinned;
};

struct vfio_user_dma_window;
struct vfio_user_bar_map;

/**
 * struct vfio_user_dev - a bound vfio-user server, a device on our bus
 * @dev: the bus device, named vfio-userN; parent of the vfio_device unless
 *	an owner is: its own parent, when set, is the mdev that owns it
 * @list: entry in the bus's device list
 * @id: N in vfio-userN
 * @socket_path: the path written to new_device
 * @conn: the connection
 * @info: DEVICE_GET_INFO reply, validated
 * @regions: @info.num_regions regions, described at bind
 * @num_irqs: IRQ indexes shown to the VMM: the server's, and at least
 *	VFIO_PCI_NUM_IRQS so that ERR and REQ always exist
 * @irqs: @num_irqs IRQ indexes
 * @irq_lock: protects @err_trigger and @req_trigger; taken from the
 *	connection's break path, so nothing sleeps under it
 * @err_trigger: the VMM's ERR eventfd, raised when the connection breaks
 * @req_trigger: the VMM's REQ eventfd, raised to ask for the device back
 * @dma_rwsem: protects the dma_* fields; see dma.c
 * @dma_mode: the mode asked for (sysfs dma_mode)
 * @dma_iova: first IOVA of the window announced to the server
 * @dma_size: its size
 * @dma_open: DMA may be served: between open_device and close_device
 * @dma_opening: open_device is announcing the window: the mode and window
 *	may not change
 * @dma_active: the mode in use while @dma_open
 * @dma_window: the zero-copy window, published from before DMA_MAP until
 *	it is fully unpinned at close (see dma.c)
 * @dma_buf: buffer for serving DMA messages while open; only the request
 *	worker uses it, under @dma_rwsem
 * @dma_stats: DMA counters
 * @vdev: the vfio_device registered by probe, NULL when not registered
 * @iommufd_bound: the VMM reaches the device through iommufd (device cdev
 *	or compat container), not type1; set by bind_iommufd, before
 *	open_device
 * @bar_map: the VMM's mappings of the server's regions (bar.c), made at
 *	open_device and let go at close_device; NULL while the device is
 *	closed or when no region is mmap-able
 * @debugfs: this device's debugfs directory
 */
struct vfio_user_dev {
	struct device dev;
	struct list_head list;
	int id;
	char socket_path[UNIX_PATH_MAX];
	struct vfio_user_conn conn;
	struct vfio_user_device_info info;
	struct vfio_user_region *regions;
	u32 num_irqs;
	struct vfio_user_irq *irqs;
	/* protects err_trigger and req_trigger */
	spinlock_t irq_lock;
	struct eventfd_ctx *err_trigger;
	struct eventfd_ctx *req_trigger;
	struct rw_semaphore dma_rwsem;
	enum vfio_user_dma_mode dma_mode;
	u64 dma_iova;
	u64 dma_size;
	bool dma_open;
	bool dma_opening;
	enum vfio_user_dma_mode dma_active;
	struct vfio_user_dma_window *dma_window;
	struct vfio_user_dma_access *dma_buf;
	struct vfio_user_dma_stats dma_stats;
	struct vfio_user_vdev *vdev;
	bool iommufd_bound;
	struct vfio_user_bar_map *bar_map;
	struct dentry *debugfs;
};

static inline struct vfio_user_dev *to_vfio_user_dev(struct device *dev)
{
	return container_of(dev, struct vfio_user_dev, dev);
}

/**
 * struct vfio_user_call - one request and where its reply goes
 * @cmd: command to send
 * @req: request payload (without header)
 * @req_len: its length
 * @reply: buffer for the reply payload, may be NULL when @reply_cap is 0
 * @reply_cap: capacity of @reply; a longer reply breaks the connection
 * @reply_len: set to the reply payload length on success
 * @send_files: files to attach to the request (the caller keeps its
 *	references); they are sent from a kernel thread, see fds.c
 * @nr_send_files: how many; at most the server's max_msg_fds
 * @files: where file references received with the reply go; only during
 *	the bind (exchange.c)
 * @max_files: capacity of @files; a reply with more fds breaks the connection
 * @nr_files: set to the number of @files filled in, which the caller then
 *	owns; 0 whenever the call fails
 * @no_reply: send with VFIO_USER_F_NO_REPLY and do not wait
 * @killable: a fatal signal ends the wait (not during close paths)
 */
struct vfio_user_call {
	u16 cmd;
	const void *req;
	size_t req_len;
	void *reply;
	size_t reply_cap;
	size_t reply_len;
	struct file **send_files;
	unsigned int nr_send_files;
	struct file **files;
	unsigned int max_files;
	unsigned int nr_files;
	bool no_reply;
	bool killable;
};

/* Room for the most fds we accept in one message. */
#define VFIO_USER_CTL_LEN	CMSG_SPACE(VFIO_USER_OUR_MAX_MSG_FDS * sizeof(int))

/**
 * struct vfio_user_fd_rx - where a receive puts the files it takes
 * @files: references to the files received, owned by the receiver
 * @max: capacity of @files
 * @nr: files received
 * @excess: files came that were not taken (too many, unaccounted for, or
 *	refused): a protocol error for the caller to act on
 */
struct vfio_user_fd_rx {
	struct file **files;
	unsigned int max;
	unsigned int nr;
	bool excess;
};

/* fds.c */
int vfio_user_fd_sendmsg(struct socket *sock, struct kvec *vec, size_t nvec,
			 size_t len, struct file **files, unsigned int nr);
int vfio_user_fd_recvmsg(struct socket *sock, void *buf, size_t len,
			 unsigned long ctl, struct vfio_user_fd_rx *rx);
void vfio_user_fd_put_all(struct vfio_user_fd_rx *rx);

/* exchange.c */
int vfio_user_conn_bind_run(struct vfio_user_conn *conn, int (*fn)(void *),
			    void *arg);
int vfio_user_sync_call(struct vfio_user_conn *conn,
			struct vfio_user_call *call);

/* transport.c */
int vfio_user_send_frame(struct vfio_user_conn *conn,
			 struct vfio_user_header *hdr, const void *payload,
			 size_t len, struct file **files, unsigned int nr_files,
			 bool killable, int *send_state);
const char *vfio_user_frame_problem(const struct vfio_user_header *hdr,
				    size_t max_payload, size_t *len);
int vfio_user_check_frame(struct vfio_user_conn *conn,
			  const struct vfio_user_header *hdr, size_t *len);
int vfio_user_reply_errno(u32 error);
void vfio_user_note_rtt(struct vfio_user_conn *conn, ktime_t sent);
bool vfio_user_conn_readable(struct vfio_user_conn *conn);
int vfio_user_conn_connect(struct vfio_user_conn *conn, const char *path);
void vfio_user_conn_start(struct vfio_user_conn *conn);
void vfio_user_conn_destroy(struct vfio_user_conn *conn);
void vfio_user_conn_set_timeout(struct vfio_user_conn *conn,
				unsigned int timeout_ms);
int vfio_user_conn_call(struct vfio_user_conn *conn,
			struct vfio_user_call *call);
void vfio_user_conn_reply(struct vfio_user_conn *conn,
			  const struct vfio_user_header *req,
			  const void *payload, size_t len, u32 error);
void vfio_user_conn_break(struct vfio_user_conn *conn, const char *fmt, ...)
	__printf(2, 3);
bool vfio_user_conn_usable(struct vfio_user_conn *conn);
const char *vfio_user_conn_state_name(struct vfio_user_conn *conn);
size_t vfio_user_conn_reason(struct vfio_user_conn *conn, char *buf,
			     size_t size);

/* version.c */
int vfio_user_negotiate(struct vfio_user_conn *conn);
int vfio_user_parse_caps(const char *json, size_t len,
			 struct vfio_user_caps *caps);
int vfio_user_get_device_info(struct vfio_user_conn *conn,
			      struct vfio_user_device_info *info);

/* vfio-pci's region offsets: index << 40, the offset in the low bits. */
#define VFIO_USER_OFFSET_SHIFT		VFIO_PCI_OFFSET_SHIFT
#define VFIO_USER_OFFSET_MASK		((1ULL << VFIO_USER_OFFSET_SHIFT) - 1)
#define VFIO_USER_INDEX_TO_OFFSET(idx)	((u64)(idx) << VFIO_USER_OFFSET_SHIFT)
#define VFIO_USER_PGOFF_SHIFT		(VFIO_USER_OFFSET_SHIFT - PAGE_SHIFT)

/*
 * The vfio_device's parent: the owning front end's device (an mdev) when
 * there is one, as VMMs find the device by its parent's name and group.
 */
static inline struct device *vfio_user_vfio_parent(struct vfio_user_dev *udev)
{
	return udev->dev.parent ?: &udev->dev;
}

/* main.c */
int vfio_user_parse_path(const char *what, const char *buf, size_t count,
			 char *path);
struct vfio_user_dev *vfio_user_dev_create(const char *path,
					   struct device *owner);
void vfio_user_dev_remove(struct vfio_user_dev *udev);

/* mdev.c, built where the kernel has mdev support */
struct vfio_user_mdev_parent;
#if IS_ENABLED(CONFIG_VFIO_MDEV)
struct vfio_user_mdev_parent *vfio_user_mdev_init(void);
void vfio_user_mdev_exit(struct vfio_user_mdev_parent *mp);
#else
static inline struct vfio_user_mdev_parent *vfio_user_mdev_init(void)
{
	return ERR_PTR(-EOPNOTSUPP);
}

static inline void vfio_user_mdev_exit(struct vfio_user_mdev_parent *mp)
{
}
#endif

/* query.c */
int vfio_user_query_device(struct vfio_user_dev *udev);
void vfio_user_free_device(struct vfio_user_dev *udev);

/* device.c */
int vfio_user_vdev_register(struct vfio_user_dev *udev);
void vfio_user_vdev_unregister(struct vfio_user_dev *udev);

/* irq.c */
void vfio_user_vdev_conn_broken(struct vfio_user_dev *udev);
void vfio_user_request(struct vfio_device *vdev, unsigned int count);
long vfio_user_ioctl_get_irq_info(struct vfio_user_dev *udev, void __user *arg);
long vfio_user_ioctl_set_irqs(struct vfio_user_dev *udev, void __user *arg);
void vfio_user_irqs_close(struct vfio_user_dev *udev);

/**
 * struct vfio_user_vdev - the vfio_device of a bound server
 * @vdev: the vfio_device; must stay first (vfio_alloc_device)
 * @udev: the bus device that owns the connection and the device description
 */
struct vfio_user_vdev {
	struct vfio_device vdev;
	struct vfio_user_dev *udev;
};

/* dma.c */
extern const struct attribute_group vfio_user_dma_group;
void vfio_user_dma_init(struct vfio_user_dev *udev);
int vfio_user_dma_open(struct vfio_user_dev *udev);
void vfio_user_dma_close(struct vfio_user_dev *udev);
void vfio_user_dma_unmap(struct vfio_user_dev *udev, u64 iova, u64 length);
void vfio_user_dma_serve(void *owner, const struct vfio_user_header *hdr,
			 const void *payload, size_t len);

/* bar.c */
struct vfio_user_bar_map *vfio_user_bar_create(struct vfio_user_dev *udev);
void vfio_user_bar_destroy(struct vfio_user_bar_map *map);
void vfio_user_bar_set_open(struct vfio_user_bar_map *map, bool open);
int vfio_user_bar_mmap(struct vfio_user_bar_map *map,
		       struct vm_area_struct *vma);

/* fs.c */
struct file *vfio_user_fs_file(const char *name,
			       const struct file_operations *fops, void *priv,
			       loff_t size);
void vfio_user_fs_put(void);

/* debugfs.c */
void vfio_user_debugfs_init(void);
void vfio_user_debugfs_exit(void);
void vfio_user_debugfs_add(struct vfio_user_dev *udev);
void vfio_user_debugfs_remove(struct vfio_user_dev *udev);

#endif /* VFIO_USER_PRIV_H */
