package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
)

// AccessKey is an access key as the IAM credential API shows it; Secret is set only by
// CreateAccessKey.
type AccessKey struct {
	UserID      string `json:"user_id"`
	Access      string `json:"access"`
	Secret      string `json:"secret,omitempty"`
	Status      string `json:"status"`
	CreateTime  string `json:"create_time"`
	Description string `json:"description"`
}

const credentialsPath = "/v3.0/OS-CREDENTIAL/credentials"

// CreateAccessKey creates an access key for userID ("" = the caller) and returns it with its
// secret (POST /v3.0/OS-CREDENTIAL/credentials, 201).
func (c *Client) CreateAccessKey(ctx context.Context, userID, description string) (*AccessKey, error) {
	body := map[string]any{"credential": map[string]string{"user_id": userID, "description": description}}
	_, data, err := c.do(ctx, http.MethodPost, credentialsPath, nil, body, http.StatusCreated)
	if err != nil {
		return nil, err
	}
	var out struct {
		Credential AccessKey `json:"credential"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("POST %s: decode response: %w", credentialsPath, err)
	}
	return &out.Credential, nil
}

// ListAccessKeys lists the access keys of userID ("" = the caller).
func (c *Client) ListAccessKeys(ctx context.Context, userID string) ([]AccessKey, error) {
	var q url.Values
	if userID != "" {
		q = url.Values{"user_id": {userID}}
	}
	var out struct {
		Credentials []AccessKey `json:"credentials"`
	}
	if _, err := c.call(ctx, http.MethodGet, credentialsPath, q, nil, &out); err != nil {
		return nil, err
	}
	return out.Credentials, nil
}

// DeleteAccessKey deletes an access key (204).
func (c *Client) DeleteAccessKey(ctx context.Context, accessKey string) error {
	_, _, err := c.do(ctx, http.MethodDelete, credentialsPath+"/"+url.PathEscape(accessKey), nil, nil, http.StatusNoContent)
	return err
}
