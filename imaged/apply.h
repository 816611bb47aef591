/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Layer application: one image layer (a tar stream, uncompressed or compressed with gzip or
 * zstd) unpacked into a directory, the layer root. The root is either the upper directory of
 * an overlay snapshot (whiteouts become overlay whiteouts: a 0/0 character device for a
 * deleted name, trusted.overlay.opaque="y" on an opaque directory) or a full tree (the first
 * layer, or a native snapshot: whiteouts delete what they name).
 *
 * Nothing in a layer is trusted. Every entry is written relative to the root's directory fd
 * by a walk that opens one component at a time with O_NOFOLLOW, so no entry can reach outside
 * the root: names with a ".." component are refused, absolute names are taken relative to the
 * root, symlinks are created as they are (they are resolved inside the container later) but
 * never followed while extracting (an entry below a symlink is refused), hard links must name
 * an entry already inside the root, and character or block devices other than the 0/0
 * whiteout are skipped and counted. docs/images.md has the full rules.
 *
 * While unpacking, the stored (compressed) bytes are hashed into the blob digest and the
 * uncompressed tar stream into the diffID; the caller compares them with the manifest and the
 * image config. A layer is unpacked into a scratch snapshot, so a mismatch found at the end
 * only costs removing that snapshot.
 */
#ifndef BR_IMAGED_APPLY_H
#define BR_IMAGED_APPLY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/digest.h"
#include "common/err.h"

#define IMAGED_LAYER_MAX_ENTRIES (1u << 20)  /* entries in one layer */
#define IMAGED_LAYER_MAX_PATH 4096           /* bytes of an entry name or link target */
#define IMAGED_LAYER_MAX_BYTES (64ull << 30) /* uncompressed tar stream of one layer */

/* How whiteouts (".wh.NAME", ".wh..wh..opq") are written. */
enum imaged_whiteouts {
	IMAGED_WHITEOUT_OVERLAY = 0, /* the root is an overlay upper directory */
	IMAGED_WHITEOUT_DELETE,      /* the root is a full tree: delete what they name */
};

/*
 * The layer's stored bytes, pulled by the applier: place up to one chunk in *ret_buf (valid
 * until the next call) and return its length, 0 at the end, or -1 with `err` set (a source
 * that notices a cancellation returns -1 with CANCELED). Runs on the applier's thread.
 */
typedef ssize_t (*imaged_source_fn)(void *data, const void **ret_buf, br_err *err);

struct imaged_apply_opts {
	const char *layer; /* names the layer in errors, e.g. its digest */
	int compression;   /* BR_OCI_COMP_NONE/GZIP/ZSTD, or -1 to detect */
	enum imaged_whiteouts whiteouts;
	uint64_t max_entries; /* 0: IMAGED_LAYER_MAX_ENTRIES */
	uint64_t max_bytes;   /* 0: IMAGED_LAYER_MAX_BYTES */
	/* The stored bytes are checked against the blob digest by whoever stores them (contentd
	 * hashes every blob it commits): they are not hashed here, and the result's digest is
	 * empty. The diffID alone vouches for what is unpacked. */
	bool blob_checked;
	/*
	 * The lower layers' trees of the overlay snapshot whose upper directory is the root,
	 * nearest first: absolute paths, exactly the entries of the mount's lowerdir= option
	 * split on ':'. Owned by the caller, read only during the call; each is opened once per
	 * layer (an error if one cannot be). Used only with IMAGED_WHITEOUT_OVERLAY: a parent
	 * directory that the layer writes into without listing it (only "tmp/.wh.x", say) is
	 * created with the mode, owner and times of the directory the lower layers show at that
	 * path, since overlayfs shows the upper directory's attributes for the merged one. The
	 * nearest lower that has anything at the path decides, as in overlayfs: a directory is
	 * copied; a file, symlink or whiteout there (or on the way, or nothing below an opaque
	 * directory) means no directory. Without one, or with no lower_dirs, it is 0755
	 * root:root. Symlinks in the lower trees are never followed.
	 */
	const char *const *lower_dirs;
	size_t n_lower_dirs;
	/*
	 * Non-NULL (IMAGED_WHITEOUT_OVERLAY only, with no lower_dirs): a layer unpacked before
	 * its parents are known. Each implied parent directory is then left 0755 root:root and
	 * its path recorded here, for imaged_apply_implied_dirs to give it the lower layers'
	 * attributes once they are. Filled in on success (empty before); the caller frees it
	 */
	struct imaged_implied_dirs *implied;
};

/* Directories a layer wrote into without listing them: paths below the root, parents first. */
struct imaged_implied_dirs {
	char **paths;
	size_t n;
};

void imaged_implied_dirs_fini(struct imaged_implied_dirs *dirs);

struct imaged_apply_result {
	char digest[BR_DIGEST_BUF];  /* sha256 of the stored (compressed) bytes; "" if blob_checked
	                              */
	char diff_id[BR_DIGEST_BUF]; /* sha256 of the uncompressed tar stream */
	int64_t size;                /* stored bytes read */
	int64_t tar_size;            /* uncompressed bytes */
	uint64_t entries;
	uint64_t skipped_devices; /* character and block devices not created */
	uint64_t skipped_xattrs;  /* extended attributes outside the allowed namespaces */
};

/*
 * Unpack the layer read from `source` into the directory `root_fd` (opened O_RDONLY |
 * O_DIRECTORY; not closed). The whole stream is read, trailing bytes included, so the digests
 * cover every byte. On error the root holds whatever was written so far: the caller discards
 * it. Errors name the layer and the entry ("layer sha256:...: entry \"../x\": path escapes
 * the layer root"): INVALID_ARGUMENT for a malformed or hostile layer, RESOURCE_EXHAUSTED for
 * a broken limit, the source's error as is, others from the filesystem. Any thread; one
 * layer per call.
 */
int imaged_apply_layer(int root_fd, imaged_source_fn source, void *source_data,
                       const struct imaged_apply_opts *opts, struct imaged_apply_result *ret,
                       br_err *err);

/*
 * Give the implied directories `dirs` of the layer unpacked at `root_fd` the mode, owner and
 * times of the directory that the lower layers `lower_dirs` (nearest first, as in
 * imaged_apply_opts) show at each path, as imaged_apply_layer does when it knows the lowers
 * while unpacking. A path that is no longer a directory is skipped. Errors name `layer`.
 */
int imaged_apply_implied_dirs(int root_fd, const struct imaged_implied_dirs *dirs,
                              const char *const *lower_dirs, size_t n_lower, const char *layer,
                              br_err *err);

/*
 * Compare what a layer read with what its descriptor and the image config promise: the blob
 * digest `digest` (NULL: not checked) and the diffID `diff_id`. FAILED_PRECONDITION naming
 * the layer and both values on a mismatch ("layer sha256:...: diffID mismatch: the image
 * config says sha256:..., the layer's content is sha256:..."). Pure; any thread.
 */
int imaged_apply_verify(const struct imaged_apply_result *res, const char *layer,
                        const char *digest, const char *diff_id, br_err *err);

/*
 * Normalize a tar member name: leading '/' and "." or empty components dropped, so that
 * "/a//./b/" becomes "a/b" and the root becomes "". Returns a heap string, or NULL if a
 * component is ".." or the name is longer than IMAGED_LAYER_MAX_PATH. Pure; any thread.
 */
char *imaged_layer_path_normalize(const char *name);

#endif
