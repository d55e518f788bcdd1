/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * xml_tree: a small element tree from untrusted XML (a libvirt domain, an OVF envelope, a UTM
 * config.plist), built with expat. Names are local names (a namespace's prefix and URI dropped:
 * "ovf:href" and "rasd:ResourceType" are "href" and "ResourceType"). A DOCTYPE with an internal
 * subset and entity declarations are refused (no entities, so no entity expansion; an external DTD,
 * as a plist names, is never read), and so are documents over XML_MAX_BYTES, deeper
 * than XML_MAX_DEPTH or with more than XML_MAX_NODES elements. Pure; fuzzed through the importers
 * (tests/fuzz/fuzz_import.c).
 */
#ifndef QHM_XML_TREE_H
#define QHM_XML_TREE_H

#include <stddef.h>

#define XML_MAX_BYTES (4u << 20)
#define XML_MAX_DEPTH 64
#define XML_MAX_NODES 100000

struct xml_node {
  char *name;   /* local name */
  char **attrs; /* name, value, name, value, ..., NULL (local names) */
  char *text;   /* the element's own character data, concatenated; "" when none */
  size_t text_len;
  struct xml_node *parent, *child, *last, *next;
};

/* The root element of BUF (LEN bytes), or NULL with ERR. */
struct xml_node *xml_parse(const char *buf, size_t len, char *err, size_t errlen);
void xml_free(struct xml_node *root); /* NULL is fine */

const char *xml_attr(const struct xml_node *n, const char *name); /* NULL when absent */
/* The first child element named NAME (NULL: any), after AFTER (NULL: from the start). */
struct xml_node *xml_child(const struct xml_node *n, const char *name, const struct xml_node *after);
/* The text of the first child named NAME with surrounding white space trimmed into OUT; NULL when
 * there is no such child. */
const char *xml_child_text(const struct xml_node *n, const char *name, char *out, size_t outlen);
/* N's text trimmed into OUT. */
const char *xml_text(const struct xml_node *n, char *out, size_t outlen);

#endif
