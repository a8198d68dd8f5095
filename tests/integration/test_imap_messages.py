"""Selected-state commands against the real server: FETCH, STORE, SEARCH, COPY, MOVE,
EXPUNGE, APPEND, with mail delivered by the SMTP side."""

from __future__ import annotations

import email
from email.header import Header
from email.message import EmailMessage

import imapclient
import pytest

from tests.integration.conftest import PASSWORD, MailServer, client_tls_context

ALICE, BOB = "alice@bangkok.go.th", "bob@bangkok.go.th"
THAI_SUBJECT = "รายงานการประชุม ประจำเดือน"


def thai_message(subject: str = THAI_SUBJECT, body: str = "สวัสดีครับ ทดสอบภาษาไทย") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"{Header('สมชาย', 'utf-8').encode()} <{ALICE}>"
    msg["To"] = BOB
    msg["Subject"] = subject
    msg["Message-ID"] = "<thai-1@bangkok.go.th>"
    msg.set_content(body, charset="utf-8")
    msg.add_attachment(
        b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="report.pdf"
    )
    return msg.as_bytes().replace(b"\n", b"\r\n")


def send(server: MailServer, content: bytes, to: str = BOB) -> None:
    server.submit(content, to)


def imap_client(server: MailServer, login: str = BOB) -> imapclient.IMAPClient:
    client = imapclient.IMAPClient(
        "127.0.0.1", port=server.imaps_port, ssl=True, ssl_context=client_tls_context(), timeout=10
    )
    client.login(login, PASSWORD)
    return client


def test_smtp_delivery_is_visible_with_exact_content(server: MailServer) -> None:
    sent = thai_message()
    send(server, sent)
    client = imap_client(server)
    info = client.select_folder("INBOX")
    assert info[b"EXISTS"] == 1
    (uid,) = client.search("ALL")
    data = client.fetch([uid], ["RFC822", "RFC822.SIZE", "FLAGS", "ENVELOPE", "BODYSTRUCTURE"])
    whole = data[uid][b"RFC822"]
    assert whole.endswith(sent)  # trace headers first, then the bytes sent (CRLF on the wire)
    assert data[uid][b"RFC822.SIZE"] == len(whole)
    envelope = data[uid][b"ENVELOPE"]
    assert envelope.message_id == b"<thai-1@bangkok.go.th>"
    assert (
        str(email.header.make_header(email.header.decode_header(envelope.subject.decode())))
        == THAI_SUBJECT
    )
    structure = data[uid][b"BODYSTRUCTURE"]
    assert structure.is_multipart
    client.logout()


def test_peek_keeps_unseen_and_body_fetch_sets_seen(server: MailServer) -> None:
    send(server, thai_message())
    client = imap_client(server)
    client.select_folder("INBOX")
    (uid,) = client.search("ALL")
    header = client.fetch([uid], ["BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])[uid]
    assert header[b"BODY[HEADER.FIELDS (SUBJECT)]"].startswith(b"Subject: ")
    assert b"\\Seen" not in client.get_flags([uid])[uid]
    part = client.fetch([uid], ["BODY[1]<0.10>"])[uid]
    assert len(part[b"BODY[1]<0>"]) == 10
    assert b"\\Seen" in client.get_flags([uid])[uid]
    client.logout()


def test_store_copy_move_expunge_with_uidplus(server: MailServer) -> None:
    for n in range(3):
        send(server, thai_message(subject=f"message {n}"))
    client = imap_client(server)
    client.select_folder("INBOX")
    uids = client.search("ALL")
    assert len(uids) == 3
    client.add_flags(uids[:1], [b"\\Flagged", b"$Important"])
    assert set(client.get_flags(uids[:1])[uids[0]]) >= {b"\\Flagged", b"$Important"}
    client.copy(uids[:2], "Archive")
    client.move(uids[2:], "Trash")
    assert client.search("ALL") == uids[:2]
    client.delete_messages(uids[:1])
    client.expunge()
    assert client.search("ALL") == uids[1:2]
    assert client.folder_status("Archive", ["MESSAGES"])[b"MESSAGES"] == 2
    assert client.folder_status("Trash", ["MESSAGES"])[b"MESSAGES"] == 1
    client.logout()


def test_uidplus_response_codes(server: MailServer) -> None:
    from tests.integration.test_imap_bad_input import Raw

    send(server, thai_message())
    raw = Raw(server)
    raw.command(f'LOGIN {BOB} "{PASSWORD}"'.encode())
    selected = raw.command(b"SELECT INBOX")
    uidvalidity = selected.split(b"[UIDVALIDITY ")[1].split(b"]")[0]
    archive = raw.command(b"STATUS Archive (UIDVALIDITY)").split(b"UIDVALIDITY ")[1].split(b")")[0]
    assert f"[COPYUID {archive.decode()} 1 1]".encode() in raw.command(b"UID COPY 1 Archive")
    moved = raw.command(b"UID MOVE 1 Trash")
    assert b"* OK [COPYUID " in moved and b"* 1 EXPUNGE" in moved
    assert moved.index(b"COPYUID") < moved.index(b"EXPUNGE") < moved.index(b"t OK")
    appended = raw.command(b"APPEND INBOX {12+}\r\nSubject: x\r\n")
    assert f"[APPENDUID {uidvalidity.decode()} 2]".encode() in appended


def test_search_thai_text(server: MailServer) -> None:
    send(server, thai_message())
    send(server, thai_message(subject="English only", body="nothing Thai here"))
    client = imap_client(server)
    client.select_folder("INBOX")
    assert len(client.search(["SUBJECT", "ประชุม"], charset="UTF-8")) == 1
    assert len(client.search(["BODY", "ภาษาไทย"], charset="UTF-8")) == 1
    assert len(client.search(["FROM", "สมชาย"], charset="UTF-8")) == 2
    assert len(client.search(["UNSEEN"])) == 2
    client.logout()


def test_append_returns_appenduid_and_respects_quota(make_server) -> None:
    server = make_server(store={"quota_bytes": 4000})
    server.add_account(BOB)
    client = imap_client(server)
    small = thai_message()
    result = client.append("Sent", small, flags=[b"\\Seen"])
    assert b"APPENDUID" in result
    big = small + b"x" * 4000
    with pytest.raises(imapclient.exceptions.IMAPClientError, match="OVERQUOTA"):
        client.append("Sent", big)
    with pytest.raises(imapclient.exceptions.IMAPClientError, match="TRYCREATE"):
        client.append("Nowhere", small)
    client.logout()


def test_mailbox_hierarchy_and_thai_names(server: MailServer) -> None:
    client = imap_client(server)
    folders = {name: flags for flags, _, name in client.list_folders()}
    for special in ("Sent", "Drafts", "Trash", "Junk", "Archive"):
        assert special in folders
    assert b"\\Sent" in folders["Sent"]
    client.create_folder("โครงการ/2569")
    names = [name for _, _, name in client.list_folders()]
    assert "โครงการ/2569" in names and "โครงการ" in names
    client.rename_folder("โครงการ", "งาน")
    names = [name for _, _, name in client.list_folders()]
    assert "งาน/2569" in names and "โครงการ/2569" not in names
    client.subscribe_folder("งาน/2569")
    assert "งาน/2569" in [name for _, _, name in client.list_sub_folders()]
    client.delete_folder("งาน/2569")
    assert "งาน/2569" not in [name for _, _, name in client.list_folders()]
    client.logout()


def test_uids_and_uidvalidity_survive_a_restart(server: MailServer) -> None:
    for n in range(3):
        send(server, thai_message(subject=f"keep {n}"))
    client = imap_client(server)
    before = client.select_folder("INBOX")
    uids = client.search("ALL")
    client.logout()
    server.stop()
    server.start()
    client = imap_client(server)
    after = client.select_folder("INBOX")
    assert after[b"UIDVALIDITY"] == before[b"UIDVALIDITY"]
    assert client.search("ALL") == uids
    assert after[b"UIDNEXT"] == before[b"UIDNEXT"]
    client.logout()


def test_departed_user_reads_and_saves_sent_mail_only(server: MailServer) -> None:
    import datetime as dt

    sent = thai_message()
    send(server, sent)
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    server.cli("account", "depart", BOB, "--date", yesterday.isoformat())
    client = imap_client(server)
    client.select_folder("INBOX")
    (uid,) = client.search("ALL")
    assert client.fetch([uid], ["RFC822"])[uid][b"RFC822"].endswith(sent)
    assert b"APPENDUID" in client.append("Sent", thai_message(subject="sent copy"))
    with pytest.raises(imapclient.exceptions.IMAPClientError, match="NOPERM"):
        client.append("Archive", thai_message(subject="new storage"))
    client.logout()
