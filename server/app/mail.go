package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"mime"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/inferiallm/orgserver/graph"
)

// smtpMailer sends invitation e-mails through an SMTP server given as
// smtp://user:pass@host:port?from=addr (STARTTLS when the server offers it; add
// starttls=required to insist) or smtps://... (TLS from the start).
type smtpMailer struct {
	addr, host    string
	implicitTLS   bool
	requireTLS    bool
	user, pass    string
	from          string
	skipTLSVerify bool
}

func newSMTPMailer(raw string) (*smtpMailer, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, fmt.Errorf("SMTP_URL must look like smtp://user:pass@host:587?from=noreply@example.com")
	}
	m := &smtpMailer{host: u.Hostname(), implicitTLS: u.Scheme == "smtps"}
	port := u.Port()
	if port == "" {
		port = map[bool]string{true: "465", false: "587"}[m.implicitTLS]
	}
	m.addr = net.JoinHostPort(m.host, port)
	if u.User != nil {
		m.user = u.User.Username()
		m.pass, _ = u.User.Password()
	}
	q := u.Query()
	m.from = q.Get("from")
	if m.from == "" {
		m.from = "noreply@" + m.host
	}
	m.requireTLS = q.Get("starttls") == "required"
	m.skipTLSVerify = q.Get("insecure_skip_verify") == "true"
	return m, nil
}

// SendInvitation sends one plain-text invitation.
func (m *smtpMailer) SendInvitation(ctx context.Context, msg graph.InvitationMail) error {
	tlsConfig := &tls.Config{ServerName: m.host, InsecureSkipVerify: m.skipTLSVerify} //nolint:gosec // opt-in for self-signed relays
	var (
		c   *smtp.Client
		err error
	)
	switch {
	case m.implicitTLS:
		c, err = smtp.DialTLS(m.addr, tlsConfig)
	case m.requireTLS:
		c, err = smtp.DialStartTLS(m.addr, tlsConfig)
	default:
		// Opportunistic: STARTTLS when the server offers it, plain on a relay that does not.
		c, err = smtp.Dial(m.addr)
		if err == nil {
			if ok, _ := c.Extension("STARTTLS"); ok {
				c.Close()
				c, err = smtp.DialStartTLS(m.addr, tlsConfig)
			}
		}
	}
	if err != nil {
		return err
	}
	defer c.Close()
	if deadline, ok := ctx.Deadline(); ok {
		c.CommandTimeout = time.Until(deadline)
		c.SubmissionTimeout = time.Until(deadline)
	}
	if m.user != "" {
		if err := c.Auth(sasl.NewPlainClient("", m.user, m.pass)); err != nil {
			return err
		}
	}
	if err := c.SendMail(m.from, []string{msg.To}, strings.NewReader(invitationMessage(m.from, msg))); err != nil {
		return err
	}
	return c.Quit()
}

// invitationMessage renders the plain-text e-mail, with CRLF line ends.
func invitationMessage(from string, msg graph.InvitationMail) string {
	who := "You have"
	if msg.InvitedBy != "" {
		who = msg.InvitedBy + " has"
	}
	subject := fmt.Sprintf("You are invited to join %s on InferiaLLM", msg.OrganizationName)
	body := fmt.Sprintf("Hello,\n\n%s invited you to join the organization %q on InferiaLLM as %s.\n\n"+
		"Accept the invitation here:\n\n  %s\n\nThe link works once and expires on %s.\n\n"+
		"If you did not expect this invitation, you can ignore this e-mail.\n",
		who, msg.OrganizationName, msg.Role, msg.Link, msg.ExpiresAt.UTC().Format("2 January 2006 at 15:04 UTC"))
	headers := []string{
		"From: " + from,
		"To: " + msg.To,
		"Subject: " + mime.QEncoding.Encode("utf-8", subject),
		"Date: " + time.Now().UTC().Format(time.RFC1123Z),
		"MIME-Version: 1.0",
		"Content-Type: text/plain; charset=utf-8",
		"Content-Transfer-Encoding: 8bit",
	}
	return strings.ReplaceAll(strings.Join(headers, "\n")+"\n\n"+body, "\n", "\r\n")
}
