/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vfu_client - a minimal synchronous userspace vfio-user client.
 *
 * Used by the tests to talk to vfio_user_test_server directly, and as the
 * userspace baseline the kernel driver is benchmarked against: a region
 * access costs one sendmsg() and (usually) one recvmsg(), with no
 * allocation.
 *
 * One command is in flight at a time (vfu_send_cmd() + vfu_recv_msg() allow
 * pipelining by hand).  Replies are matched by id and command; anything
 * else where a reply is due is a protocol error.
 *
 * Requests the server sends to us (DMA_READ/DMA_WRITE) while we wait for a
 * reply are counted, noted in last_request and, if answer_requests is set,
 * served from the memory registered with vfu_dma_register(), as a VMM
 * serves them from guest RAM: an IOVA outside it gets EFAULT, one without
 * the permission EPERM, a malformed request or one larger than
 * max_data_xfer EINVAL, and dma_error, when set, refuses every request.
 * vfu_poll_requests() serves them when no command is outstanding.
 *
 * All functions return 0 or a negative errno:
 *   -E<server's errno>  the server sent an Error reply (last_error_from_server
 *                       is then true; error 0 is reported as -EIO)
 *   -ETIMEDOUT          nothing arrived within timeout_ms
 *   -ECONNRESET         the server closed the connection (even mid-message)
 *   -EMSGSIZE           a message larger than VFU_MAX_MSG was announced, or a
 *                       reply did not fit the caller's buffer
 *   -EPROTO             anything else that breaks the protocol: bad flags,
 *                       wrong id or command, unexpected fds, bad payload
 * After -ETIMEDOUT, -ECONNRESET, -EMSGSIZE (announced) or -EPROTO the stream
 * may be out of sync: disconnect.
 */
#ifndef VFU_CLIENT_H
#define VFU_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/vfio_user.h>

/* Largest message: a 1 MiB region access plus headers. */
#define VFU_MAX_MSG		(sizeof(struct vfio_user_header) + \
				 sizeof(struct vfio_user_region_access) + \
				 VFIO_USER_DEFAULT_MAX_DATA_XFER)
#define VFU_MAX_FDS		16	/* fds accepted with one message */
#define VFU_MAX_DMA_REGIONS	8	/* vfu_dma_register() table */
#define VFU_DEFAULT_TIMEOUT_MS	5000

/* The capabilities vfu_negotiate() offers. */
#define VFU_CLIENT_CAPS \
	"{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576}}"

struct vfu_msg {
	struct vfio_user_header hdr;
	void *payload;		/* in the client's buffer: valid until the next
				 * receive on this client */
	size_t len;		/* payload bytes (hdr.msg_size - header) */
	int fds[VFU_MAX_FDS];	/* received with it; the caller owns them */
	unsigned int nfds;
};

struct vfu_pending_fd {
	size_t msg_off;		/* start of the message it came with */
	int fd;
};

/* Our memory the server may reach with DMA_READ/DMA_WRITE. */
struct vfu_dma_region {
	uint64_t iova, size;
	uint8_t *va;
	uint32_t flags;		/* VFIO_USER_F_DMA_REGION_READ/WRITE */
};

/* A request from the server, as it came (served or not). */
struct vfu_request {
	uint16_t msg_id, command;
	uint64_t address, count;
};

struct vfu_client {
	int fd;
	uint16_t next_id;
	int timeout_ms;			/* for every send/receive; <= 0: none */
	bool answer_requests;		/* reply to server DMA requests */
	unsigned long server_requests;	/* server->client commands seen */
	unsigned long dma_served;	/* ...answered with success */
	unsigned long dma_refused;	/* ...answered with an error */
	struct vfu_request last_request;
	uint32_t dma_error;		/* non-zero: refuse requests with it */
	uint32_t max_data_xfer;		/* larger requests: EINVAL (1 MiB) */
	struct vfu_dma_region dma[VFU_MAX_DMA_REGIONS];
	unsigned int nr_dma;
	bool last_error_from_server;
	uint16_t major, minor;		/* negotiated by vfu_negotiate() */

	/* receive buffer: messages are parsed in place */
	uint8_t *rx;
	size_t rx_start, rx_end;
	struct vfu_pending_fd pending[VFU_MAX_FDS];
	unsigned int npending;
};

/* Connect to @path; the client is then ready for VERSION. */
int vfu_connect(struct vfu_client *c, const char *path);
void vfu_disconnect(struct vfu_client *c);
int vfu_set_timeout(struct vfu_client *c, int timeout_ms);

/* ---- raw messages ---- */

/* Send a command; *id (if not NULL) gets its msg_id. */
int vfu_send_cmd(struct vfu_client *c, uint16_t cmd, uint32_t flags,
		 const void *payload, size_t len, const int *fds,
		 unsigned int nfds, uint16_t *id);
/* Send @len arbitrary bytes (with fds on the first byte). */
int vfu_send_raw(struct vfu_client *c, const void *buf, size_t len,
		 const int *fds, unsigned int nfds);
/* Receive the next message, whatever it is. */
int vfu_recv_msg(struct vfu_client *c, struct vfu_msg *m);
/* Receive until the reply to (id, cmd), handling server requests. */
int vfu_wait_reply(struct vfu_client *c, uint16_t id, uint16_t cmd,
		   struct vfu_msg *m);
void vfu_msg_close_fds(struct vfu_msg *m);

/*
 * Send a command and wait for its reply.  The reply payload is copied to
 * @reply (up to @reply_cap, else -EMSGSIZE) and its size stored in
 * *@reply_len.  Received fds go to @rfds (room for VFU_MAX_FDS) and
 * *@rnfds; with @rfds NULL, any fd is a protocol error (-EPROTO).
 */
int vfu_cmd(struct vfu_client *c, uint16_t cmd, const void *req,
	    size_t req_len, const int *fds, unsigned int nfds,
	    void *reply, size_t reply_cap, size_t *reply_len,
	    int *rfds, unsigned int *rnfds);

/* ---- typed commands ---- */

/*
 * VERSION with @json (NULL: none).  The server's numbers go to *rmajor and
 * *rminor, its JSON (NUL-terminated, truncated to @caps_cap) to @caps.
 */
int vfu_version(struct vfu_client *c, uint16_t major, uint16_t minor,
		const char *json, uint16_t *rmajor, uint16_t *rminor,
		char *caps, size_t caps_cap);
/* VERSION 0.0 with VFU_CLIENT_CAPS; a server major other than 0 fails. */
int vfu_negotiate(struct vfu_client *c);

int vfu_device_get_info(struct vfu_client *c,
			struct vfio_user_device_info *info);
/*
 * GET_REGION_INFO offering @argsz bytes: the reply (at most @argsz bytes)
 * lands in @buf; an fd that comes with it goes to *fd (-1 if none).
 */
int vfu_region_info(struct vfu_client *c, uint32_t index, uint32_t argsz,
		    void *buf, int *fd);
int vfu_irq_info(struct vfu_client *c, uint32_t index,
		 struct vfio_user_irq_info *info);
/* SET_IRQS; @data is the DATA_BOOL array (argsz includes it), fds travel
 * as SCM_RIGHTS. */
int vfu_set_irqs(struct vfu_client *c, uint32_t flags, uint32_t index,
		 uint32_t start, uint32_t count, const void *data,
		 size_t data_len, const int *fds, unsigned int nfds);

int vfu_region_read(struct vfu_client *c, uint32_t region, uint64_t offset,
		    void *buf, uint32_t count);
int vfu_region_write(struct vfu_client *c, uint32_t region, uint64_t offset,
		     const void *buf, uint32_t count);
/* REGION_WRITE with No_reply: only a later reply proves it was done. */
int vfu_region_write_posted(struct vfu_client *c, uint32_t region,
			    uint64_t offset, const void *buf, uint32_t count);
int vfu_read32(struct vfu_client *c, uint32_t region, uint64_t offset,
	       uint32_t *val);
int vfu_write32(struct vfu_client *c, uint32_t region, uint64_t offset,
		uint32_t val);

/* DMA_MAP; @fd < 0 for a window without fd (message-based DMA). */
int vfu_dma_map(struct vfu_client *c, uint64_t iova, uint64_t size,
		uint64_t offset, uint32_t flags, int fd);
/* DMA_UNMAP; the server's echo goes to @echo if not NULL. */
int vfu_dma_unmap(struct vfu_client *c, uint64_t iova, uint64_t size,
		  uint32_t flags, struct vfio_user_dma_unmap *echo);
int vfu_reset(struct vfu_client *c);

/* ---- serving the server's DMA requests ---- */

/*
 * Let the server reach [@iova, @iova + @size) at @va with the @flags
 * (VFIO_USER_F_DMA_REGION_*) permissions.  Only our side: telling the
 * server is vfu_dma_map(), so a test can do one without the other.
 * -EEXIST on overlap, -ENOSPC when the table is full.
 */
int vfu_dma_register(struct vfu_client *c, uint64_t iova, uint64_t size,
		     void *va, uint32_t flags);
int vfu_dma_unregister(struct vfu_client *c, uint64_t iova, uint64_t size);
/*
 * Count, note and answer one request @m got with vfu_recv_msg(), whatever
 * answer_requests says (no reply if it has No_reply).  Closes its fds.
 */
int vfu_serve_request(struct vfu_client *c, struct vfu_msg *m);
/*
 * Handle the server's requests (as vfu_wait_reply() does) until none comes
 * for @timeout_ms.  Returns how many, or -errno; a reply is -EPROTO.
 */
int vfu_poll_requests(struct vfu_client *c, int timeout_ms);

#endif /* VFU_CLIENT_H */
