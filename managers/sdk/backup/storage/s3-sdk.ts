// The parts of the AWS SDK the s3 backend uses, in one module that s3.ts
// imports only when an S3 storage is first used: an agent that backs up to a
// directory never loads (nor holds in memory) the SDK's megabyte of code.
export {
  AbortMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
export { Upload } from '@aws-sdk/lib-storage';
