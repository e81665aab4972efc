/*
 * imd.c - instant messaging and presence (RFC 6121): rosters, offline storage, archive; implemented by the IM issue.
 *
 * Until then imd is the bare daemon skeleton: it completes the handshake
 * with routerd, enters its sandbox and idles.  routerd routes nothing to it
 * yet, so any frame that arrives is logged and ignored.
 */
#include "daemon.h"
#include "log.h"
#include "imd.h"

/* The keys routerd sends (store-dir, hosts, options) are accepted and
 * unused until the daemon is implemented. */
static int
imd_configure(const char *key, int argc, const char **argv)
{
	return 0;
}

static void
imd_dispatch(struct link *l, struct frame *f)
{
	log_debug("ignoring %s frame", frame_type_name(f->hdr.type));
	if (f->fd != -1)
		close(f->fd);
}

static const struct daemon_ops imd_ops = {
	.name = "imd",
	.configure = imd_configure,
	.dispatch = imd_dispatch,
	.policy = &imd_policy,
};

int
main(int argc, char *argv[])
{
	return daemon_main(argc, argv, &imd_ops);
}
