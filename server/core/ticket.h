/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ticket: short-lived, single-use capabilities that let a WebSocket attach to
 * one VM with one protocol (Proxmox-style): the REST API issues them, the
 * data plane redeems them before the upgrade. 256 random bits, 30 s, at most
 * TICKET_MAX outstanding (the oldest is dropped beyond that, so a flood of
 * requests costs bounded memory). Core loop thread only.
 */
#ifndef QHM_TICKET_H
#define QHM_TICKET_H

#include <stdint.h>

#define TICKET_LEN 43 /* base64url of 32 bytes, no padding */
#define TICKET_MAX 1024
#define TICKET_TTL_MS 30000

enum ticket_result { TICKET_OK, TICKET_UNKNOWN, TICKET_EXPIRED, TICKET_WRONG_PROTOCOL };

struct ticket_store;

struct ticket_store *ticket_store_new(void);
void ticket_store_free(struct ticket_store *s);
/* Issue a ticket for (VM_ID, PROTO) valid from NOW_MS; writes TICKET_LEN+1 bytes to OUT. */
void ticket_issue(struct ticket_store *s, const char *vm_id, const char *proto, uint64_t now_ms, char *out);
/* The same with a SECRET (e.g. per-session credentials, JSON text) kept with the ticket and
 * wiped when the ticket is redeemed, revoked, replaced, or found expired when another secret is
 * issued. */
void ticket_issue_secret(struct ticket_store *s, const char *vm_id, const char *proto, uint64_t now_ms,
                         const char *secret, char *out);
/* The same, for WHO (a paired LAN device's id, "" for the owner): its consoles close when the
 * device is revoked. */
void ticket_issue_as(struct ticket_store *s, const char *vm_id, const char *proto, uint64_t now_ms,
                     const char *who, const char *secret, char *out);
/* Redeem: on TICKET_OK copies the VM id (<= 64 bytes) to VM_ID. Any presented ticket that
 * matches is consumed, whatever the outcome, so it can never be tried twice. */
enum ticket_result ticket_redeem(struct ticket_store *s, const char *ticket, const char *proto,
                                 uint64_t now_ms, char vm_id[65]);
/* Redeem, and on TICKET_OK hand over the ticket's secret in *SECRET (NULL if none; the caller
 * wipes and frees it). */
enum ticket_result ticket_redeem_secret(struct ticket_store *s, const char *ticket, const char *proto,
                                        uint64_t now_ms, char vm_id[65], char **secret);
/* Redeem with the secret and WHO the ticket was issued to (17 bytes; may be NULL). */
enum ticket_result ticket_redeem_as(struct ticket_store *s, const char *ticket, const char *proto,
                                    uint64_t now_ms, char vm_id[65], char **secret, char who[17]);
/* Drop the tickets of a VM (it stopped or was deleted). */
void ticket_revoke_vm(struct ticket_store *s, const char *vm_id);
const char *ticket_result_str(enum ticket_result r);

#endif
