package minioadmin

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/secure-io/sio-go"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/pbkdf2"
)

// The admin API encrypts request and reply bodies that carry secrets. The format is
//
//	salt (32 bytes) | algorithm id (1 byte) | nonce (8 bytes) | sio stream ciphertext
//
// where the 32-byte key is derived from the admin identity's secret key and the salt. The id names
// the key derivation and the AEAD of the stream.
const (
	idArgon2idAESGCM           byte = 0x00
	idArgon2idChaCha20Poly1305 byte = 0x01
	idPBKDF2AESGCM             byte = 0x02

	saltSize  = 32
	nonceSize = 8 // sio: the AEAD's 12-byte nonce minus its 4-byte sequence counter

	argon2Time    = 1
	argon2Memory  = 64 * 1024
	argon2Threads = 4
	pbkdf2Rounds  = 8192
	keySize       = 32
)

var errMalformed = errors.New("malformed encrypted admin payload")

// encrypt seals data for the server, with Argon2id and AES-256-GCM (id 0x00).
func encrypt(password string, data []byte) ([]byte, error) {
	var salt [saltSize]byte
	var nonce [nonceSize]byte
	if _, err := rand.Read(salt[:]); err != nil {
		return nil, err
	}
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, err
	}
	return seal(password, idArgon2idAESGCM, salt[:], nonce[:], data)
}

func seal(password string, id byte, salt, nonce, data []byte) ([]byte, error) {
	stream, err := streamFor(password, id, salt)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Write(salt)
	out.WriteByte(id)
	out.Write(nonce)
	w := stream.EncryptWriter(&out, nonce, nil)
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// decrypt opens a payload sealed with any of the three algorithms.
func decrypt(password string, payload []byte) ([]byte, error) {
	if len(payload) < saltSize+1+nonceSize {
		return nil, errMalformed
	}
	salt, id, nonce := payload[:saltSize], payload[saltSize], payload[saltSize+1:saltSize+1+nonceSize]
	stream, err := streamFor(password, id, salt)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	w := stream.DecryptWriter(&out, nonce, nil)
	if _, err := w.Write(payload[saltSize+1+nonceSize:]); err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("%w: %w", errMalformed, err)
	}
	return out.Bytes(), nil
}

func streamFor(password string, id byte, salt []byte) (*sio.Stream, error) {
	switch id {
	case idArgon2idAESGCM:
		return sio.AES_256_GCM.Stream(argon2.IDKey([]byte(password), salt, argon2Time, argon2Memory, argon2Threads, keySize))
	case idArgon2idChaCha20Poly1305:
		return sio.ChaCha20Poly1305.Stream(argon2.IDKey([]byte(password), salt, argon2Time, argon2Memory, argon2Threads, keySize))
	case idPBKDF2AESGCM:
		return sio.AES_256_GCM.Stream(pbkdf2.Key([]byte(password), salt, pbkdf2Rounds, keySize, sha256.New))
	default:
		return nil, fmt.Errorf("%w: unknown algorithm id %#x", errMalformed, id)
	}
}
