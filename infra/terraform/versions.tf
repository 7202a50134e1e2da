terraform {
  # startswith() and strcontains() need 1.5.
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # 5.x: aws_lambda_function_event_invoke_config destinations, Glue partition indexes,
      # Athena engine v3 selection and S3 bucket sub-resources as separate resources.
      version = ">= 5.40.0, < 7.0.0"
    }
  }
}
